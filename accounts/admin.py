from django.contrib import admin

from accounts.account.deletion import close_account
from accounts.models import (
    AccountEmail,
    AddressChange,
    Passkey,
    SignInEmail,
    SignInEvent,
    SuppressedAddress,
    User,
)
from accounts.records.audit import device_of


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    # No password fields: people sign in with a link, so there is nothing to set or reset.
    list_display = ("email", "is_active", "is_staff", "last_login", "date_joined", "closed_at")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email",)
    ordering = ("email",)
    fields = (
        "email",
        "is_active",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
        "last_login",
        "date_joined",
    )
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ("groups", "user_permissions")
    actions = ["close_accounts"]

    def get_readonly_fields(self, request, obj=None):
        # An address changes only as its owner changes it: proven by the new inbox, announced
        # to the old one, undoable for a week (accounts/account/). Here it would skip all three.
        return (*self.readonly_fields, "email") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # closing waits a week for the inbox's restore, as the person's own does

    @admin.action(description="Close the selected accounts (erased after the restore week)")
    def close_accounts(self, request, queryset) -> None:
        for user in queryset.filter(is_active=True):
            close_account(user)


@admin.register(Passkey)
class PasskeyAdmin(admin.ModelAdmin):
    # Only made by their owner's browser. Deleting one is how staff who lost every passkey get
    # back in when STAFF_REQUIRE_PASSKEY guards theirs (accounts/passkeys/staff.py): another admin
    # deletes it, and they add a new one after an email sign-in.
    list_display = ("user", "name", "created_at", "last_used_at", "backed_up")
    search_fields = ("user__email", "name")
    fields = ("user", "name", "created_at", "last_used_at", "backed_up", "aaguid")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(admin.ModelAdmin):
    # Filled by the provider's webhooks; deleting a row lets mail go to the address again.
    list_display = ("email", "reason", "created_at", "until")
    search_fields = ("email",)
    readonly_fields = ("email", "reason", "created_at", "until")


class RecordListAdmin(admin.ModelAdmin):
    """A record the app keeps, read as a list: nobody adds or edits one here, and there is no
    page per row (a row's id may name a request in someone's session, and would reach URLs and
    access logs)."""

    list_display_links = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SignInEmail)
class SignInEmailAdmin(RecordListAdmin):
    # "Did my email go out?": what the worker did with each request, kept for a day.
    list_display = ("address", "requested_at", "status", "attempts", "problem", "sent_at")
    list_filter = ("status",)
    search_fields = ("address",)


@admin.register(AccountEmail)
class AccountEmailAdmin(RecordListAdmin):
    # Security notices owed, sent, or given up at their deadline (each also a warning log line).
    list_display = ("kind", "address", "status", "attempts", "problem", "queued_at", "deadline")
    list_filter = ("status", "kind", "security")
    search_fields = ("address",)


@admin.register(AddressChange)
class AddressChangeAdmin(RecordListAdmin):
    # Which account moved from where to where, and whether its week's undo is still open.
    list_display = ("user", "from_address", "to_address", "state", "asked_at", "done_at")
    list_filter = ("state",)
    search_fields = ("from_address", "to_address")


@admin.register(SignInEvent)
class SignInEventAdmin(admin.ModelAdmin):
    # The record is written by sign-ins and pruned by age (EVENT_RETENTION_DAYS), never edited.
    list_display = ("at", "kind", "user", "detail", "network", "device", "likely_scanner")
    list_filter = ("kind", "likely_scanner", "detail")
    search_fields = ("user__email", "network")
    date_hierarchy = "at"
    list_select_related = ("user",)

    @admin.display(description="device")
    def device(self, event: SignInEvent) -> str:
        return device_of(event.user_agent)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

from django.contrib import admin

from accounts.models import SuppressedAddress, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    # No password fields: people sign in with a link, so there is nothing to set or reset.
    list_display = ("email", "is_active", "is_staff", "last_login", "date_joined")
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


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(admin.ModelAdmin):
    # Filled by the provider's webhooks; deleting a row lets mail go to the address again.
    list_display = ("email", "reason", "created_at")
    search_fields = ("email",)
    readonly_fields = ("email", "reason", "created_at")

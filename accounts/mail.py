"""Every email we send: a subject, a plain-text part and an HTML part, from one template name."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send_templated(template: str, to: str, context: dict) -> None:
    """Render `{template}_subject.txt`, `.txt` and `.html` and send them to one address.

    Errors are the mail backend's own (smtplib's, anymail's): callers decide what they mean.
    """
    context = {
        "site_name": settings.SITE_NAME,
        "site_host": settings.SITE_HOST,
        "site_url": settings.SITE_URL,
        **context,
    }
    message = EmailMultiAlternatives(
        subject=render_to_string(f"{template}_subject.txt", context).strip(),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    message.send()

from django.core.mail.backends.console import EmailBackend


class ReadableConsoleBackend(EmailBackend):
    """Development only: prints each email as a person reads it, so the link can be clicked.

    Django's console backend prints the raw MIME message, where quoted-printable encoding
    breaks long links (sesame=3D...).
    """

    def write_message(self, message) -> None:
        self.stream.write(
            f"From: {message.from_email}\nTo: {', '.join(message.to)}\n"
            f"Subject: {message.subject}\n\n{message.body}\n{'-' * 79}\n"
        )

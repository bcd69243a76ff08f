"""What a drill leaves behind: its record, the JSON summary and the Allure attachments."""

__all__: list[str] = []

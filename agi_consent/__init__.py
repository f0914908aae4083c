"""agi-consent: recording consent for Asterisk, decided per jurisdiction and proved in a log."""

__version__ = "0.1.0"

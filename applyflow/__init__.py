"""applyflow: turn job postings into ready-to-send applications, cheaply and safely."""

__version__ = "0.1.0"

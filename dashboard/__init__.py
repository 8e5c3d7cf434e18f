"""The Streamlit dashboard: run it with `applyflow dashboard` (or `make dashboard`)."""

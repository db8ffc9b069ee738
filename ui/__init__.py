"""Streamlit building blocks shared by the pages. Everything testable lives in ``rivya``."""

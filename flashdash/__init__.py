"""Flash Sales Dashboard: the domain layer (importable without Streamlit)."""

__version__ = "1.0.0"

"""The Streamlit glue: the only part of flashdash that imports streamlit."""

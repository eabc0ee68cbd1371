"""The Gradio Space behind `fusionrs space` and spaces/fusionrs/app.py (placeholder)."""

"""The daily schedule: draft, send and cut-off times, and the draft step itself."""

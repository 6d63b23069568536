"""What every app uses: errors, API helpers, parsers, logs, the activity registry."""

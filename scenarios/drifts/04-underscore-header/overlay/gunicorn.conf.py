# The app keeps accepting a legacy client that spells its token header `X_Hello_Token`.
# gunicorn (>= 22) drops header names with underscores by default (`header_map = "drop"`);
# this app maps them like the local WSGI server does. gunicorn reads ./gunicorn.conf.py from
# its working directory, the app's code directory in the image.
header_map = "dangerous"

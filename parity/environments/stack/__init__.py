"""The compose stack: parity's compose file or the user's own with parity's override, its
database service and builds, TLS listeners, start-up checks, up and down.
"""

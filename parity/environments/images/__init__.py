"""The app and frontend images: build plan and content hash, build context, Dockerfile recipes,
and the wheelhouse resolved for the image's interpreter.
"""

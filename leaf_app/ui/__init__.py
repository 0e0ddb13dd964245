"""The Qt window: it shows and binds the objects of ``leaf_app.document``."""

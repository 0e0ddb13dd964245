"""The annotation document model, without Qt: images, masks, undo history, the session.

The window in ``leaf_app.ui`` only shows and binds these objects; everything here is tested
without a window.
"""

from leaf_app.document.history import EditAtom, History
from leaf_app.document.image_document import DocState, ImageDocument, ModelStamp
from leaf_app.document.mask_ops import BBox
from leaf_app.document.session import Session

__all__ = ["BBox", "DocState", "EditAtom", "History", "ImageDocument", "ModelStamp", "Session"]

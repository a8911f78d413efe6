"""``mscnn-pp``: mscnn's map through the library's decision post-processing (small regions, guided filter)."""
from .mscnn import MSCNNMethod

METHOD = MSCNNMethod(postprocess=True)

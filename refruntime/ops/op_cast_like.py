import onnx

from refruntime.ops.base import OpRun
from refruntime.ops.op_cast import cast_to


class CastLike_15(OpRun):
    def _run(self, x, target_type, saturate=1, round_mode="up"):
        to = onnx.helper.np_dtype_to_tensor_dtype(target_type.dtype)
        return (cast_to(x, to, saturate, round_mode),)

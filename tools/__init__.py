"""The project's own tools: they run from a checkout and are not part of the wheel.

They use only the public API of `keras_rnnofrnns`. `REPOSITORY` is the root
of the checkout they run from, where their templates live.
"""

import os

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

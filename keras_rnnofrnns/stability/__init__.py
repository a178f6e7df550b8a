"""Stability checks: the contraction certificate of an assembly."""

from keras_rnnofrnns.stability.certificate import Certificate, certify

__all__ = ["Certificate", "certify"]

"""Stability checks: the contraction certificate of an assembly."""

from keras_rnnofrnns.stability.certificate import Certificate, Certificates, certify

__all__ = ["Certificate", "Certificates", "certify"]

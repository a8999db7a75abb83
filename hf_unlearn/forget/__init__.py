"""Deletion requests: which training rows a request names (`ForgetSet`: indices, classes, a random fraction,
id-column values, images, a filter, a forget-spec file), resolved against the training set, and the ledger of
every request a model has had (`ledger`)."""

from .spec import FORGET_OPTIONS, ForgetSet, ForgetSetError, exclude_previous, load_forget_set

__all__ = ["FORGET_OPTIONS", "ForgetSet", "ForgetSetError", "exclude_previous", "load_forget_set"]

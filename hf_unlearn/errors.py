"""The errors hf-unlearn raises for a request it cannot carry out as given. A leaf (no heavy imports), so
that the command line can name them without loading torch."""


class DataError(ValueError):
    """A dataset that cannot be used as given (raised before any training starts)."""


class ForgetSetError(ValueError):
    """A forget set that cannot be applied to the dataset (raised before any training starts)."""


class LedgerError(ForgetSetError):
    """A model's deletion history (its ledger, specifications or weights) that does not hold: refused before any
    work, since the rows of earlier requests could otherwise return to training."""


class UnsafeInputError(ValueError):
    """An input that hf-unlearn refuses to load or write to as given; the message says how to proceed."""


class UsageError(ValueError):
    """A command line or recipe that cannot be read as given (a missing or malformed recipe, an unknown key)."""


class HubError(OSError):
    """The Hub could not be reached, or refused the request (network, token, permissions)."""


class GateError(ValueError):
    """The unlearned model misses a publishing threshold (or the gate itself is malformed)."""


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite: the run stopped instead of saving a broken model."""


class GANTrainingError(RuntimeError):
    """GAN training diverged (non-finite loss)."""


#: Errors caused by the request (data, forget set, options): the command line reports them in one line, exit 2.
USER_ERRORS = (ForgetSetError, DataError, OSError, ValueError, TrainingDivergedError, GANTrainingError)

"""Sample quality of generated images against real ones, in a feature space given by the caller (hf-unlearn uses
the original classifier's own features, `hf_unlearn.quality.ClassifierFeatures`).

- KID, the kernel inception distance of Binkowski et al. (2018): the unbiased squared MMD between the two feature
  sets under the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets of equal size.
  0 (up to sampling noise, which can make it slightly negative) when both come from one distribution.
- Precision and recall of Kynkaanniemi et al. (2019): each set's manifold is the union of balls around its points
  whose radius is the distance to the k-th nearest neighbour within the set. Precision: the share of generated
  points inside the real manifold (are the samples realistic?); recall: the share of real points inside the
  generated manifold (do the samples cover the data?).

The kernel and the neighbour search are scikit-learn's (`polynomial_kernel`, `NearestNeighbors`).
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics.pairwise import euclidean_distances, polynomial_kernel
from sklearn.neighbors import NearestNeighbors

_CITATION = """Binkowski, Sutherland, Arbel & Gretton, Demystifying MMD GANs, ICLR 2018 (KID).
Kynkaanniemi, Karras, Laine, Lehtinen & Aila, Improved Precision and Recall Metric for Assessing Generative
Models, NeurIPS 2019."""
_KWARGS = """
Args:
    predictions (list of list of float): one feature vector per image.
    references (list of int): 1 for a real image, 0 for a generated one.
    num_subsets (int): KID subsets, default 10.
    subset_size (int): images of each kind per KID subset, default 1000 (capped at the smaller set).
    k (int): the neighbour whose distance is a point's manifold radius, default 3 (the paper's).
    max_points (int): points of each kind the precision / recall use (a seeded subsample), default 5000.
    seed (int): seed of the subsets and subsamples, default 0.
Returns:
    kid (float), kid_std (float): mean and standard deviation of the squared MMD over the subsets.
    precision (float), recall (float): shares in [0, 1].
    num_real (int), num_generated (int): images of each kind given.
"""


def kid(real: np.ndarray, generated: np.ndarray, num_subsets: int, subset_size: int,
        rng: np.random.Generator) -> tuple[float, float]:
    m = min(subset_size, len(real), len(generated))
    gamma = 1.0 / real.shape[1]
    values = []
    for _ in range(num_subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = generated[rng.choice(len(generated), m, replace=False)]
        k_xx = polynomial_kernel(x, degree=3, gamma=gamma, coef0=1)
        k_yy = polynomial_kernel(y, degree=3, gamma=gamma, coef0=1)
        k_xy = polynomial_kernel(x, y, degree=3, gamma=gamma, coef0=1)
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2.0 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


def manifold_coverage(points: np.ndarray, others: np.ndarray, k: int) -> float:
    """The share of `others` inside the k-NN manifold of `points`."""
    radii = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)[0][:, -1]  # itself is the 0th
    return float((euclidean_distances(others, points) <= radii[None, :]).any(axis=1).mean())


class SampleQuality(evaluate.Metric):
    """KID and precision / recall of generated images against real ones, on given feature vectors."""

    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__, citation=_CITATION, inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float32")),
                                        "references": datasets.Value("int64")}))

    def _compute(self, predictions, references, num_subsets=10, subset_size=1000, k=3, max_points=5000, seed=0):
        features = np.asarray(predictions, dtype=np.float64)
        is_real = np.asarray(references, dtype=np.int64) == 1
        real, generated = features[is_real], features[~is_real]
        if features.ndim != 2 or not np.all(np.isfinite(features)):
            raise ValueError("sample_quality needs one finite feature vector of the same length per image.")
        if min(len(real), len(generated)) < max(2, k + 1):
            raise ValueError(f"sample_quality needs at least {max(2, k + 1)} real and generated images, got "
                             f"{len(real)} and {len(generated)}.")
        rng = np.random.default_rng(seed)
        kid_mean, kid_std = kid(real, generated, num_subsets, subset_size, rng)
        real_pr = real[rng.choice(len(real), min(max_points, len(real)), replace=False)]
        gen_pr = generated[rng.choice(len(generated), min(max_points, len(generated)), replace=False)]
        return {"kid": kid_mean, "kid_std": kid_std, "precision": manifold_coverage(real_pr, gen_pr, k),
                "recall": manifold_coverage(gen_pr, real_pr, k), "num_real": int(len(real)),
                "num_generated": int(len(generated))}

r"""scikit-learn estimators over the gdlab engine: :class:`GDRegressor`, :class:`GDClassifier`.

Both build a :class:`gdlab.Sequential` (hidden Dense layers, then an output layer whose
activation is the loss's link) and train it with :meth:`gdlab.Sequential.fit`: there is
no second implementation of the math. They follow the scikit-learn contract (``__init__``
only stores; ``fit`` validates and returns ``self``; fitted state ends in ``_``), so they
work in ``Pipeline``, ``ColumnTransformer``, ``GridSearchCV`` and ``cross_val_score``.

=====================  ==============================  ===================================
estimator, ``loss``    output layer                    ``predict``
=====================  ==============================  ===================================
regressor ``"mse"``    1 unit, linear                  :math:`\hat{y}` (× exposure)
``"poisson"``,         1 unit, exponential (log link)  rate :math:`\hat{y}`; with
``"gamma"``,                                           ``exposure``, :math:`\mu = e\hat{y}`
``"tweedie"``
classifier, 2 classes  1 unit, sigmoid                 the class of the larger probability
classifier, k classes  k units, softmax                idem
=====================  ==============================  ===================================

With ``exposure`` (rate models) the target ``y`` is the observed count or amount of the
row, and the loss compares it with :math:`\mu_i = e_i\hat{y}_i`. For Poisson this is the
same as scikit-learn's convention (target ``y/e``, ``sample_weight=e``): the deviances
agree row by row, :math:`e\,D(y/e, \hat{y}) = D(y, e\hat{y})`.

The output bias starts at the fitted null model (the link of the weighted mean, e.g.
:math:`b = \log(\sum w y / \sum w e)`), and without hidden layers the weights start at
0: the fit starts from the intercept-only model, which is what a GLM solver does.
"""

from gdlab.estimators.classifier import GDClassifier
from gdlab.estimators.regressor import GDRegressor

__all__ = ["GDClassifier", "GDRegressor"]

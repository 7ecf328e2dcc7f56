"""Tune an RBF support vector classifier on scikit-learn's bundled breast-cancer data.

Scored by stratified 5-fold cross-validation, so the number reported is an honest estimate of
accuracy on unseen data. It calls the runner's Python API directly instead of printing.
"""

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from kubetune_runner import params, report


def main() -> None:
    p = params()
    features, labels = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), SVC(C=p["C"], gamma=p["gamma"], kernel="rbf"))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_score(model, features, labels, cv=folds)
    for fold, score in enumerate(scores, start=1):
        report(step=fold, fold_accuracy=float(score))
    report(accuracy=float(scores.mean()), accuracy_std=float(scores.std()))


if __name__ == "__main__":
    main()

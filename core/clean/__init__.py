"""Trusting the data: cross-validation, and the images it shows to be mislabelled, duplicated, leaked or out of place.

`cv` runs the folds and keeps every training image's out-of-fold probabilities (`cv_folder`
names and reads what it writes); `findings` turns those (or a model's predictions, `predictions`)
into typed findings through `label_issues`, `duplicates` and `outliers`. Decisions about the
findings are `core.data.decisions`, which every data source applies.
"""

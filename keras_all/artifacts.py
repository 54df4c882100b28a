"""Every file keras-all writes into its folders, named once: a run folder (train), an evaluation, a stress test, an
export, imported weights, a search (tune), a cells or a slides folder. ``RunFolder`` reads and writes them
(``read_json``, ``write_json``, ``read_csv``, ``write_csv``; every write atomic). This module imports nothing."""

CONFIG_YAML = "config.yaml"  # the run's whole configuration (or an export's front), as `train --config` reads it
METRICS_JSON = "metrics.json"  # every figure a folder's report shows
REPORT_MD = "report.md"  # the report of a run, an evaluation, a stress test, a search, a cells or a slides folder
MODEL_KERAS = "model.keras"  # the delivered model (raw images in), and each fold's under fold_K/
PREDICTIONS_CSV = "predictions.csv"  # every scored image: path, label, probability, part (validation fold or test)
SPLITS_CSV = "splits.csv"  # each image's split (dev or test) and fold, as the run cut them
DATA_SUMMARY_JSON = "data_summary.json"  # what the run's data set held (counts, subjects, left-out files)
BASELINE_JSON = "baseline.json"  # the colour-histogram logistic regression fitted by the run's splits, with its summary
BASELINE_PREDICTIONS_CSV = "baseline_predictions.csv"  # the baseline's out-of-fold validation and holdout predictions
FAMILIARITY_JSON = "familiarity.json"  # the refusal fitted by the run's splits
TRAINING_SCORES_CSV = "training_scores.csv"  # each fold model's scores on its own training images
TRAINING_CURVES_PNG = "training_curves.png"  # the folds' training and validation curves
SALIENCY_PNG = "saliency.png"  # where the delivered model looks, on holdout images
PREPROCESSING_PNG = "preprocessing.png"  # what the front does to a few of the run's images
ROC_TEST_PNG = "roc_test.png"  # the delivered model's ROC on the holdout test
CONFUSION_TEST_PNG = "confusion_test.png"  # the delivered model's confusion matrix on the holdout test
LOG_CSV = "log.csv"  # a fold's per-epoch log
PROGRESS_JSON = "progress.json"  # how far a streamed map cache was written (for --resume)
STRESS_JSON = "stress.json"  # the stress test's figures
STRESS_PNG = "stress.png"  # the stress test's figure
CONTROLS_JSON = "controls.json"  # a cell run's controls judged on the same fields
FIELD_FEATURES_CSV = "field_features.csv"  # what the field controls read of each field
SLIDE_RULE_JSON = "slide_rule.json"  # cells' probabilities to a field's verdict
FIELDS_JSON = "fields.json"  # how a cell run's fields became cells (counts, scale, crop)
CELLS_CSV = "cells.csv"  # a row per cell found (cells, slides) or cut (a cell run)
FIELDS_CSV = "fields.csv"  # a `keras-all cells` folder's row per field
SLIDES_CSV = "slides.csv"  # a `keras-all slides` folder's row per slide
INDEX_HTML = "index.html"  # a `keras-all slides` folder's page
ROC_PNG = "roc.png"  # an evaluation's ROC
CONFUSION_PNG = "confusion.png"  # an evaluation's confusion matrix
MODEL_CARD_MD = "MODEL_CARD.md"  # an export's (or imported weights') model card
EXPORT_JSON = "export.json"  # an export's served cut-off and where it comes from
RESNET_KERAS = "resnet.keras"  # the authors' network with their weights (import-weights)
SEARCH_YAML = "search.yaml"  # a search's settings (checked on --resume)
RESULTS_CSV = "results.csv"  # a search's row per trial
BEST_CONFIG_YAML = "best_config.yaml"  # a search's best configuration, a preset for `train --config`
SCORES_JSON = "scores.json"  # a trial's fold scores
CONTACT_SHEET_PNG = "contact_sheet.png"  # preprocess's figures in one sheet

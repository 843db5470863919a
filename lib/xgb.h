/* xgb.h - XGBoost models for inference: load a model file, learn what it
 * takes and gives, predict a batch of dense rows (XGBoost's C API, as in
 * Debian's libxgboost-dev 1.7).
 *
 * Model files are those XGBoost's save_model() writes: JSON (model.json)
 * or Universal Binary JSON (model.ubj), told apart by their first bytes,
 * not by the name. The deprecated binary format is refused. A UBJSON file
 * is walked before XGBoost sees it (xgb_check_ubjson): XGBoost 1.7 reads a
 * truncated one past its end and crashes. JSON is checked by XGBoost's
 * own parser, which reports the position of a fault.
 *
 * Features are float32 columns in the model's order; NaN is XGBoost's
 * missing value (a tree takes the branch it learnt for missing values).
 * Outputs per row are found at load time by predicting one row of missing
 * values: 1 for binary:logistic and regression, the number of classes for
 * multi:softprob (and for multi:softmax with margins).
 */
#ifndef RTAI_XGB_H
#define RTAI_XGB_H

#include <stddef.h>
#include <stdint.h>

struct xgb;

/* Checks that p[0..n) is exactly one complete UBJSON value whose top is an
 * object (draft 12 markers, big-endian numbers, strongly typed containers
 * with '$' and '#', as XGBoost writes them), nested at most 64 deep.
 * Returns 0, or -1 with "byte N: what" in why (size why_len). */
int xgb_check_ubjson(const uint8_t *p, size_t n, char *why, size_t why_len);

/* Loads the model file at path and sets XGBoost's thread count to
 * nthread (>= 1). Returns the model, or NULL with a message ("PATH: what",
 * without the program name) in err (size err_len): unreadable file,
 * unknown format, a fault XGBoost found, a model of no features. Free it
 * with xgb_free(). XGBoost's own warnings go to stderr through cli_warn. */
struct xgb *xgb_load(const char *path, int nthread, char *err, size_t err_len);
/* Frees the model. Accepts NULL. */
void xgb_free(struct xgb *m);

/* Columns the model takes (its num_feature), >= 1. */
size_t xgb_nfeatures(const struct xgb *m);
/* The name of column i as stored in the model, or NULL when the model was
 * trained without names. Valid until xgb_free(). */
const char *xgb_feature_name(const struct xgb *m, size_t i);
/* The objective's name ("binary:logistic"), or "unknown". */
const char *xgb_objective(const struct xgb *m);
/* Boosted rounds (trees per output). */
int xgb_rounds(const struct xgb *m);
/* Values per row that xgb_predict() gives, for margin (1) or not (0). */
size_t xgb_noutputs(const struct xgb *m, int margin);

/* Predicts rows (>= 1) rows of xgb_nfeatures() float32 values each, row
 * after row in x (NaN: missing). margin 0: transformed values (the
 * probability for binary:logistic); 1: raw margins, before the link
 * function. Returns 0 and points *out at rows * xgb_noutputs(m, margin)
 * values, row after row, owned by XGBoost and valid until the next call;
 * or -1 with XGBoost's message in err. */
int xgb_predict(struct xgb *m, const float *x, size_t rows, int margin,
		const float **out, char *err, size_t err_len);

#endif

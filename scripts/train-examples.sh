#!/bin/sh
# Regenerate the three shipped Titanic bundles byte for byte:
#   scripts/train-examples.sh [path/to/titanic_train.csv]
# Default data: ../shared/data/titanic_train.csv (relative to the repository root).
set -eu
cd "$(dirname "$0")/.."
data=${1:-../shared/data/titanic_train.csv}
created_at=2026-11-25T00:00:00Z
for m in prod-gbt canary-rule dev-logreg; do
	go run ./cmd/rendezvous train --data "$data" \
		--spec "examples/titanic/train/$m.yaml" \
		--seed 1 --folds 5 --created-at "$created_at" \
		--out "examples/titanic/models/$m.json"
done

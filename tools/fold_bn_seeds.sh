#!/usr/bin/env bash
# Does folding the frozen batch norms into the convolutions change what
# training learns, or only how float32 rounds?
#
# Trains the Liao & Luo model several times per seed:
#   folded     SKINMTL_FOLD_BN=all (every frozen batch norm folded; the default
#              folds only where that is faster, a subset of these)
#   unfolded   SKINMTL_FOLD_BN=0 (convolution, batch norm, add, ReLU as their own ops)
#   control    unfolded again, with the learning rate changed by one part in a
#              million: a perturbation of rounding size, nothing else changed
# and compares the pairs seed by seed. If folding is a rounding-level change, the
# folded-unfolded gaps look like the unfolded-control gaps: the loss curves part
# at about the same step and end about as far apart, either way round.
#
#   tools/fold_bn_seeds.sh OUT [extra train options]
#   SEEDS="1 2 3" ITERS=100 EVAL_EVERY=50 DATA=ham10000 tools/fold_bn_seeds.sh runs/fold_seeds
#
# Runs that finished are kept (run it again to continue); summary.csv and the
# table printed at the end are made from the runs' log.csv files.
set -euo pipefail

out=${1:?usage: tools/fold_bn_seeds.sh OUT [extra train options]}
shift
seeds=${SEEDS:-1 2 3}
iters=${ITERS:-100}
eval_every=${EVAL_EVERY:-50}
data=${DATA:-ham10000}
lr=${LR:-0.001}
window=${WINDOW:-20}
bin=${SKINMTL:-bin/skinmtl}
control_lr=$(awk -v lr="$lr" 'BEGIN { printf "%.12g", lr * (1 + 1e-6) }')

mkdir -p "$out"
train() {  # arm seed fold lr
  local dir="$out/$1_s$2"
  if [[ -f "$dir/model.safetensors" ]]; then return; fi
  local resume=()
  if [[ -f "$dir/checkpoint.safetensors" ]]; then resume=(--resume); fi
  echo "== $1, seed $2 (SKINMTL_FOLD_BN=$3, lr $4)"
  local seed=$2 fold=$3 rate=$4
  shift 4
  SKINMTL_FOLD_BN=$fold "$bin" train mtl --data "$data" --iters "$iters" --eval-every "$eval_every" \
    --ckpt-every "$eval_every" --lr "$rate" --seed "$seed" --out "$dir" "${resume[@]}" "$@" 2>&1 | tail -n 2
}
for s in $seeds; do
  train folded "$s" all "$lr" "$@"
  train unfolded "$s" 0 "$lr" "$@"
  train control "$s" 0 "$control_lr" "$@"
done

# One row per run: the training loss over the last WINDOW iterations and the
# last held-out evaluation (log.csv: iter,...,loss(4),...,heldout_loss(7),
# heldout_map_class(8),heldout_map_image(9),heldout_top1(10)).
# One row per pair and seed: the first iteration whose losses differ by more
# than 1% and 10%, and the mean relative gap over the last WINDOW iterations.
summary="$out/summary.csv"
echo "kind,a,b,seed,iter_1pct,iter_10pct,last_window_loss_a,last_window_loss_b,mean_rel_gap,heldout_loss_a,heldout_loss_b,map_class_a,map_class_b" > "$summary"
pair() {  # a b seed
  awk -F, -v a="$1" -v b="$2" -v s="$3" -v iters="$iters" -v w="$window" '
    FNR == 1 { f++; next }
    f == 1 { la[$1] = $4; if ($7 != "") { ha = $7; ma = $8 } }
    f == 2 { lb[$1] = $4; if ($7 != "") { hb = $7; mb = $8 } }
    END {
      p1 = "-"; p10 = "-"; gap = 0; sa = 0; sb = 0; n = 0
      for (i = 1; i <= iters; i++) {
        if (!(i in la) || !(i in lb)) continue
        r = la[i] - lb[i]; if (r < 0) r = -r; r /= (lb[i] > 0 ? lb[i] : 1)
        if (p1 == "-" && r > 0.01) p1 = i
        if (p10 == "-" && r > 0.10) p10 = i
        if (i > iters - w) { gap += r; sa += la[i]; sb += lb[i]; n++ }
      }
      if (n == 0) { print "incomplete run: " a " or " b ", seed " s > "/dev/stderr"; exit 1 }
      printf "pair,%s,%s,%s,%s,%s,%.4f,%.4f,%.4f,%s,%s,%s,%s\n", a, b, s, p1, p10, sa / n, sb / n, gap / n, ha, hb, ma, mb
    }' "$out/$1_s$3/log.csv" "$out/$2_s$3/log.csv" >> "$summary"
}
for s in $seeds; do
  pair folded unfolded "$s"
  pair control unfolded "$s"
done

echo
echo "| pair | seed | losses differ >1% from | >10% from | last $window it: loss a / b | mean gap | held-out loss a / b | mAP-class a / b |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
awk -F, 'NR > 1 { printf "| %s - %s | %s | %s | %s | %s / %s | %.1f%% | %.4f / %.4f | %.4f / %.4f |\n",
                 $2, $3, $4, $5, $6, $7, $8, 100 * $9, $10, $11, $12, $13 }' "$summary"
echo
echo "summary: $summary"

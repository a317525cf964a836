#!/usr/bin/env bash
# `make demo`: the built-in procedural scene -> a hash-grid field with a distilled feature head -> text selection,
# delete / recolour / move against the generator's ground truth -> orbit render; then LOLNeRF: a category of
# procedural heads seen once each -> cameras from landmarks -> an unseen head fitted and turned; then CLIP-NeRF:
# chairs -> a disentangled generator -> CLIP mappers -> instances edited by prompts and an exemplar, a photo inverted
# and edited; then StylizedNeRF: a nerf run of the scene restyled after two procedural styles, an orbit under each
# -> demo/report.html.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
BIN="$BUILD/src/app/nerfedit"
DEMO="$ROOT/demo"
# Trained by steps, not seconds, so the demo looks the same on every machine (a time budget gave 25 dB and speckled
# objects on a VM 1.8x slower per step than another).
STEPS="${DEMO_STEPS:-1500}"
CLIP="${NERFEDIT_SMALL_CLIP:-${XDG_CACHE_HOME:-$HOME/.cache}/nerfedit/small_clip}"
rm -rf "$DEMO"
mkdir -p "$DEMO"
echo "== 1/10 procedural scene (100 views, 128x128, exact depth and labels) =="
"$BIN" scene make --out "$DEMO/scene" --views 100 --width 128 --height 128
echo "== 2/10 the text teacher: nerfedit's small CLIP ($CLIP) =="
# Reused when it is of this nerfedit's caption vocabulary (models2d/small_clip.h kSmallClipVocabularyVersion).
VOCABULARY=$(sed -n 's/^constexpr int kSmallClipVocabularyVersion = \([0-9]*\);/\1/p' "$ROOT/src/models2d/small_clip.h")
if grep -q "\"vocabulary_version\": $VOCABULARY\b" "$CLIP/small_clip_training.json" 2>/dev/null; then
  echo "found (delete it to retrain)"
else
  "$BIN" clip train --out "$CLIP" --minutes "${DEMO_CLIP_MINUTES:-9}"
fi
echo "== 3/10 dff: train the field and its feature head (${STEPS} steps), select each object by text, edit (also by a prompt), measure =="
"$BUILD/dff_bench" --scene "$DEMO/scene" --teacher "$CLIP" --out "$DEMO/dff" --config "$ROOT/configs/demo_dff.json" \
  --steps "$STEPS" --overhead 0 --text-edits 1 --text-edit-steps 60 --html "$DEMO/dff/edits.html" 2>&1 | grep -v '^train \[\|^teacher \['
echo "== 4/10 render an orbit with depth =="
"$BIN" render "$DEMO/dff/dff" --out "$DEMO/orbit" --orbit 36 --depth
HEADS="${DEMO_HEADS:-400}"
LOL_STEPS="${DEMO_LOLNERF_STEPS:-1500}"
echo "== 5/10 LOLNeRF: ${HEADS} procedural heads, one 48-px view each, cameras from 5 landmarks (1-px noise) =="
"$BIN" category make --kind heads --instances "$HEADS" --size 48 --landmark-noise 1 --eval-views 0 --out "$DEMO/heads"
"$BIN" lolnerf train --data "$DEMO/heads" --out "$DEMO/lolnerf" --poses landmarks --steps "$LOL_STEPS" \
  --eval-every 0 2>&1 | grep -v '^train \[' | tee "$DEMO/lolnerf.log"
echo "== 6/10 an unseen head: camera from its landmarks, latent fitted, turned through +-40 degrees =="
"$BIN" category make --kind heads --instances 1 --seed 4242 --size 48 --eval-views 0 --out "$DEMO/unseen"
"$BIN" lolnerf fit "$DEMO/lolnerf" --frame "$DEMO/unseen:0" --out "$DEMO/unseen_fit" | tee "$DEMO/unseen_fit.log"
"$BIN" render "$DEMO/unseen_fit" --out "$DEMO/unseen_turn" --orbit 9 --arc 80 --depth
summary() { printf '%.2f' "$(sed -n "s/^summary:.* $1=\([0-9.e+-]*\).*/\1/p" "$DEMO/lolnerf.log" | head -1)"; }
{
  echo "<h2>LOLNeRF: a category of heads, each seen once</h2>"
  echo "<p>${HEADS} procedural heads of 48&times;48 px, one view each; cameras estimated from five 2D landmarks with"
  echo "1 px of noise (mean rotation error $(summary pose_rot_err_deg)&deg; against the generator's cameras); ${LOL_STEPS}"
  echo "steps; training images re-rendered with their latents: $(summary train_psnr) dB.</p>"
  echo "<h3>Training images: render &middot; photo</h3><div class=\"views\">"
  for render in $(ls "$DEMO/lolnerf/eval/"*_render.png | head -8); do
    k=$(basename "$render" _render.png)
    echo "<div class=\"view\"><div class=\"pair\"><img src=\"lolnerf/eval/${k}_render.png\"><img src=\"lolnerf/eval/${k}_gt.png\"></div>image $k</div>"
  done
  echo "</div><h3>An unseen head: the photo, then the fit turned through &plusmn;40&deg; (colour and depth)</h3>"
  echo "<p>$(head -1 "$DEMO/unseen_fit.log")</p><div class=\"views\">"
  echo "<div class=\"view\"><img src=\"unseen/images/$(ls "$DEMO/unseen/images" | head -1)\">photo</div>"
  for i in 0 2 4 6 8; do
    echo "<div class=\"view\"><div class=\"pair\"><img src=\"unseen_turn/orbit_00${i}.png\"><img src=\"unseen_turn/orbit_00${i}_depth.png\"></div>$((i * 10 - 40))&deg;</div>"
  done
  echo "</div>"
} > "$DEMO/lolnerf.html"
CHAIRS="${DEMO_CHAIRS:-240}"
CN_STEPS="${DEMO_CLIPNERF_STEPS:-2000}"
echo "== 7/10 CLIP-NeRF: ${CHAIRS} procedural chairs, one 48-px view each, a disentangled generator (${CN_STEPS} steps), CLIP mappers =="
"$BIN" category make --kind chairs --instances "$CHAIRS" --size 48 --eval-views 0 --out "$DEMO/chairs"
"$BIN" clipnerf train --data "$DEMO/chairs" --out "$DEMO/clipnerf" --steps "$CN_STEPS" --eval-every 0 2>&1 \
  | grep -v '^train \[' | tee "$DEMO/clipnerf.log"
# The chair CLIP is trained once (about 7 minutes) and cached beside the small CLIP.
"$BIN" clipnerf mappers "$DEMO/clipnerf" --steps "${DEMO_MAPPER_STEPS:-120}" --held-out $((CHAIRS / 6)) 2>&1 | grep -v '^mappers step'
echo "== 8/10 CLIP-NeRF edits: held-out chairs by prompts and an exemplar; an unseen photo inverted, then edited =="
PROMPTS=("a red chair" "a blue chair" "a green chair" "a chair with a tall back" "a chair with short legs")
INSTANCES=($((CHAIRS - 1)) $((CHAIRS - 2)) $((CHAIRS - 3)))
for k in "${INSTANCES[@]}"; do
  for i in "${!PROMPTS[@]}"; do
    "$BIN" clipnerf edit "$DEMO/clipnerf" --instance "$k" --text "${PROMPTS[$i]}" --size 96 --orbit 0 \
      --out "$DEMO/clipnerf_edits/$k/$i" > /dev/null
  done
done
EXEMPLAR="$DEMO/chairs/images/$(ls "$DEMO/chairs/images" | sed -n 5p)"
for k in "${INSTANCES[@]}"; do
  "$BIN" clipnerf edit "$DEMO/clipnerf" --instance "$k" --image "$EXEMPLAR" --size 96 --orbit 0 \
    --out "$DEMO/clipnerf_edits/$k/exemplar" > /dev/null
done
"$BIN" category make --kind chairs --instances 1 --seed 4242 --size 48 --eval-views 0 --out "$DEMO/unseen_chair"
PHOTO="$DEMO/unseen_chair/images/$(ls "$DEMO/unseen_chair/images" | head -1)"
"$BIN" clipnerf invert "$DEMO/clipnerf" --image "$PHOTO" --out "$DEMO/chair_invert" --novel-views 4 2>&1 \
  | grep -v '^invert \[' | tail -1 | tee "$DEMO/chair_invert.log"
"$BIN" clipnerf edit "$DEMO/clipnerf" --codes "$DEMO/chair_invert/codes.json" --text "a blue chair" --size 96 \
  --orbit 4 --out "$DEMO/chair_invert_edit" > /dev/null
{
  echo "<h2>CLIP-NeRF: chairs edited by a sentence or an exemplar, in one forward pass</h2>"
  echo "<p>${CHAIRS} procedural chairs of 48&times;48 px, one view each; a disentangled conditional NeRF (shape code"
  echo "deforms the encoding, appearance code enters after the density) trained as a GLO generator for ${CN_STEPS}"
  echo "steps ($(grep -m1 '^trained ' "$DEMO/clipnerf.log")), then the CLIP"
  echo "mappers. Held-out chairs (never a mapper's training code); judged elsewhere by hue bands and silhouettes.</p>"
  echo "<table class=\"grid\"><tr><th>before</th>"
  for p in "${PROMPTS[@]}"; do echo "<th>$p</th>"; done
  echo "<th>exemplar <img src=\"${EXEMPLAR#"$DEMO/"}\" width=32></th></tr>"
  for k in "${INSTANCES[@]}"; do
    echo "<tr><td><img src=\"clipnerf_edits/$k/0/before.png\"></td>"
    for i in "${!PROMPTS[@]}"; do echo "<td><img src=\"clipnerf_edits/$k/$i/after.png\"></td>"; done
    echo "<td><img src=\"clipnerf_edits/$k/exemplar/after.png\"></td></tr>"
  done
  echo "</table><h3>An unseen photo inverted (camera, shape, appearance), then \"a blue chair\"</h3>"
  echo "<p>$(cat "$DEMO/chair_invert.log")</p><div class=\"views\">"
  echo "<div class=\"view\"><img src=\"${PHOTO#"$DEMO/"}\" width=96>photo</div>"
  echo "<div class=\"view\"><img src=\"chair_invert/fit.png\" width=96>fit</div>"
  echo "<div class=\"view\"><img src=\"chair_invert_edit/orbit_before.png\" height=96>inverted, turned</div>"
  echo "<div class=\"view\"><img src=\"chair_invert_edit/orbit_after.png\" height=96>&ldquo;a blue chair&rdquo;</div>"
  echo "</div>"
} > "$DEMO/clipnerf.html"
NERF_STEPS="${DEMO_NERF_STEPS:-1000}"
STYLIZE_STEPS="${DEMO_STYLIZE_STEPS:-600}"
STYLES=("procedural:strokes:1" "procedural:mosaic:5")
echo "== 9/10 StylizedNeRF: a nerf run of the scene (${NERF_STEPS} steps), restyled after ${#STYLES[@]} styles (${STYLIZE_STEPS} steps) =="
# The 2D network (AdaIN, nerfedit's VGG-style encoder) is trained once (about 6 minutes) and cached.
"$BIN" train --data "$DEMO/scene" --out "$DEMO/nerf" --steps "$NERF_STEPS" --eval-every 0 --quiet | grep '^trained '
STYLE_ARGS=()
for st in "${STYLES[@]}"; do STYLE_ARGS+=(--style "$st"); done
"$BIN" stylize train "$DEMO/nerf" "${STYLE_ARGS[@]}" --out "$DEMO/styled" --steps "$STYLIZE_STEPS" --quiet 2>&1 \
  | grep -v '^stylize \[' | tee "$DEMO/styled.log" | tail -2
{
  echo "<h2>StylizedNeRF: the scene restyled, the same from every view</h2>"
  echo "<p>A nerf run of the scene (${NERF_STEPS} steps), its density frozen; a style module with one latent per"
  echo "(style, view) learns from the 2D network's stylised views, and the 2D network learns consistency back"
  echo "(${STYLIZE_STEPS} steps). Each row: a training view stylised by the 2D network alone, then an orbit rendered
under that style.</p>"
  for k in "${!STYLES[@]}"; do
    "$BIN" render "$DEMO/styled" --style "$k" --orbit 8 --out "$DEMO/styled_orbit$k" > /dev/null
    "$BIN" stylize image "$DEMO/scene/images/$(ls "$DEMO/scene/images" | head -1)" "$DEMO/styled_orbit$k/2d.png" \
      --style "${STYLES[$k]}" > /dev/null
    echo "<h3>${STYLES[$k]}</h3><div class=\"views\">"
    echo "<div class=\"view\"><img src=\"styled_orbit$k/2d.png\">2D network alone, one view</div>"
    for f in $(ls "$DEMO/styled_orbit$k"/orbit_*.png | grep -v _depth); do
      echo "<div class=\"view\"><img src=\"styled_orbit$k/$(basename "$f")\"></div>"
    done
    echo "</div>"
  done
} > "$DEMO/stylize.html"
echo "== 10/10 report =="
"$BIN" report "$DEMO/dff/dff" --out "$DEMO/report.html" --orbit "$DEMO/orbit" --extra "$DEMO/dff/edits.html" \
  --extra "$DEMO/lolnerf.html" --extra "$DEMO/clipnerf.html" --extra "$DEMO/stylize.html" \
  --title "nerfedit demo: a procedural scene, a category of heads, chairs edited by text, a restyled scene"
echo "open $DEMO/report.html"

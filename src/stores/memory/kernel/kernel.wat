;; kumiki dense-vector search kernel (WebAssembly SIMD128).
;;
;; Assembled by scripts/build-kernel.ts into kernel-wasm.generated.ts. The memory is imported so
;; that every VectorArena owns one; the JS side (arena.ts) decides the layout:
;;   - float rows: `stride` bytes each (dimensions padded with zeros to a multiple of 4 floats),
;;   - int8 rows: `cstride` bytes each (codes padded with zeros to a multiple of 16),
;;   - the float query (same padding) and the int8 query sign-extended to i16 (2 * cstride bytes),
;;   - per-row norms and int8 scales (f32), candidate row ids (u32) and the output scores (f32),
;;   - for an HNSW graph (hnsw.ts): per row, its layer-0 list (`lstride` bytes: a u32 count, then
;;     24-bit row ids, little-endian, 3 bytes each) and a u32 visit mark, and (score f32, row u32)
;;     pairs for beam results and candidates.
;;
;; Rows are scored one at a time, front to back: a single sequential stream is what the hardware
;; prefetchers handle best, and exact search over a large arena is bound by memory bandwidth
;; (interleaving even two rows measured ~3x slower at 100K x 384).
;;
;; Metrics: 0 = cosine, 1 = dot, 2 = euclidean. Scores are "higher is closer": cosine is
;; dot / (|q| |v|) (0 when either norm is 0), dot is the dot product and euclidean is minus the L2
;; distance (computed as 0 - d, so an exact match scores +0).
(module
  (import "env" "memory" (memory 1))

  ;; Integer dot product of the i16 query at $q (2 * $n bytes) and the int8 row at $p ($n bytes,
  ;; a multiple of 16). Codes are in [-127, 127], so i32 lanes cannot overflow below ~33M dims.
  (func $dot_i8 (param $q i32) (param $p i32) (param $n i32) (result i32)
    (local $end i32) (local $end32 i32) (local $v v128) (local $a v128) (local $b v128)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $end32 (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -32))))
    (if (i32.lt_u (local.get $p) (local.get $end32))
      (then
        (loop $wide
          (local.set $v (v128.load (local.get $p)))
          (local.set $a (i32x4.add (local.get $a) (i32x4.add
            (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load (local.get $q)))
            (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=16 (local.get $q))))))
          (local.set $v (v128.load offset=16 (local.get $p)))
          (local.set $b (i32x4.add (local.get $b) (i32x4.add
            (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load offset=32 (local.get $q)))
            (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=48 (local.get $q))))))
          (local.set $q (i32.add (local.get $q) (i32.const 64)))
          (br_if $wide (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 32))) (local.get $end32))))))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (local.set $v (v128.load (local.get $p)))
        (local.set $a (i32x4.add (local.get $a) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load (local.get $q)))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=16 (local.get $q))))))))
    (local.set $a (i32x4.add (local.get $a) (local.get $b)))
    (local.set $a (i32x4.add (local.get $a)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a))))
    (i32.add (i32x4.extract_lane 0 (local.get $a)) (i32x4.extract_lane 1 (local.get $a))))

  ;; Integer dot product of two int8 rows at $a and $b ($n bytes each, a multiple of 16): how the
  ;; graph scores one stored row against another when it links rows by their codes.
  (func $dot_i8i8 (param $a i32) (param $b i32) (param $n i32) (result i32)
    (local $end i32) (local $x v128) (local $y v128) (local $acc v128)
    (local.set $end (i32.add (local.get $a) (local.get $n)))
    (loop $each
      (local.set $x (v128.load (local.get $a)))
      (local.set $y (v128.load (local.get $b)))
      (local.set $acc (i32x4.add (local.get $acc) (i32x4.add
        (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (i16x8.extend_low_i8x16_s (local.get $y)))
        (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (i16x8.extend_high_i8x16_s (local.get $y))))))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $each (i32.lt_u (local.tee $a (i32.add (local.get $a) (i32.const 16))) (local.get $end))))
    (local.set $acc (i32x4.add (local.get $acc)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc))))
    (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc))))

  ;; A row just copied in at $p ($n float32 values): returns its sum of squares in float64, summed
  ;; as the JavaScript kernel sums it (one running sum per lane of four, the values after the last
  ;; full four added to the first, then ((s0 + s1) + s2) + s3), so both kernels store the same norm.
  ;; The sum is NaN or Infinity exactly when a value is NaN or ±Infinity (a finite float32 squared
  ;; cannot overflow float64). Turns every -0 into 0 in place.
  (func (export "prepare_row") (param $p i32) (param $n i32) (result f64)
    (local $full i32) (local $end i32) (local $v v128) (local $w v128) (local $lo v128) (local $hi v128)
    (local $neg v128) (local $x f64) (local $s0 f64)
    (local.set $full (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $groups
      (loop $group
        (br_if $groups (i32.ge_u (local.get $p) (local.get $full)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $neg (v128.or (local.get $neg) (i32x4.eq (local.get $v) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (local.set $w (f64x2.promote_low_f32x4 (local.get $v)))
        (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (local.get $w) (local.get $w))))
        (local.set $v (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))))
        (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $group)))
    (local.set $s0 (f64x2.extract_lane 0 (local.get $lo)))
    (block $tail
      (loop $each
        (br_if $tail (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $x (f64.promote_f32 (f32.load (local.get $p))))
        (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $x) (local.get $x))))
        (if (i32.eq (i32.load (local.get $p)) (i32.const 0x80000000))
          (then (local.set $neg (v128.const i32x4 -1 -1 -1 -1))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $each)))
    (if (v128.any_true (local.get $neg))
      (then
        (local.set $p (i32.sub (local.get $end) (i32.shl (local.get $n) (i32.const 2))))
        (block $fixed
          (loop $fix
            (br_if $fixed (i32.ge_u (local.get $p) (local.get $end)))
            (if (i32.eq (i32.load (local.get $p)) (i32.const 0x80000000))
              (then (i32.store (local.get $p) (i32.const 0))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $fix)))))
    (f64.add (f64.add (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $lo)))
      (f64x2.extract_lane 0 (local.get $hi))) (f64x2.extract_lane 1 (local.get $hi))))

  ;; $num / $den, or 0 when $den is 0.
  (func $safe_div (param $num f32) (param $den f32) (result f32)
    (select
      (f32.div (local.get $num) (local.get $den))
      (f32.const 0)
      (f32.ne (local.get $den) (f32.const 0))))

  ;; Exact float score of row $r against the query at $q: a dot product or a squared L2 distance
  ;; over `stride` bytes (a multiple of 16) in four lanes of four accumulators, 64 bytes a step, the
  ;; lanes summed at the end. One function with no calls: the graph walk scores through it.
  (func $score
    (param $metric i32) (param $q i32) (param $data i32) (param $stride i32) (param $norms i32) (param $qnorm f32)
    (param $r i32) (result f32)
    (local $p i32) (local $end i32) (local $end64 i32) (local $t v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $s f32) (local $den f32)
    (local.set $p (i32.add (local.get $data) (i32.mul (local.get $r) (local.get $stride))))
    (local.set $end (i32.add (local.get $p) (local.get $stride)))
    (local.set $end64 (i32.add (local.get $p) (i32.and (local.get $stride) (i32.const -64))))
    (if (i32.eq (local.get $metric) (i32.const 2))
      (then
        (if (i32.lt_u (local.get $p) (local.get $end64))
          (then
            (loop $wide
              (local.set $t (f32x4.sub (v128.load (local.get $p)) (v128.load (local.get $q))))
              (local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $t) (local.get $t))))
              (local.set $t (f32x4.sub (v128.load offset=16 (local.get $p)) (v128.load offset=16 (local.get $q))))
              (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $t) (local.get $t))))
              (local.set $t (f32x4.sub (v128.load offset=32 (local.get $p)) (v128.load offset=32 (local.get $q))))
              (local.set $c (f32x4.add (local.get $c) (f32x4.mul (local.get $t) (local.get $t))))
              (local.set $t (f32x4.sub (v128.load offset=48 (local.get $p)) (v128.load offset=48 (local.get $q))))
              (local.set $d (f32x4.add (local.get $d) (f32x4.mul (local.get $t) (local.get $t))))
              (local.set $q (i32.add (local.get $q) (i32.const 64)))
              (br_if $wide (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $end64))))))
        (if (i32.lt_u (local.get $p) (local.get $end))
          (then
            (loop $narrow
              (local.set $t (f32x4.sub (v128.load (local.get $p)) (v128.load (local.get $q))))
              (local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $t) (local.get $t))))
              (local.set $q (i32.add (local.get $q) (i32.const 16)))
              (br_if $narrow (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))))
        (local.set $a (f32x4.add (f32x4.add (local.get $a) (local.get $b)) (f32x4.add (local.get $c) (local.get $d))))
        (local.set $a (f32x4.add (local.get $a)
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a))))
        (return (f32.sub (f32.const 0)
          (f32.sqrt (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a))))))))
    (if (i32.lt_u (local.get $p) (local.get $end64))
      (then
        (loop $wide
          (local.set $a (f32x4.add (local.get $a) (f32x4.mul (v128.load (local.get $p)) (v128.load (local.get $q)))))
          (local.set $b (f32x4.add (local.get $b)
            (f32x4.mul (v128.load offset=16 (local.get $p)) (v128.load offset=16 (local.get $q)))))
          (local.set $c (f32x4.add (local.get $c)
            (f32x4.mul (v128.load offset=32 (local.get $p)) (v128.load offset=32 (local.get $q)))))
          (local.set $d (f32x4.add (local.get $d)
            (f32x4.mul (v128.load offset=48 (local.get $p)) (v128.load offset=48 (local.get $q)))))
          (local.set $q (i32.add (local.get $q) (i32.const 64)))
          (br_if $wide (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $end64))))))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (loop $narrow
          (local.set $a (f32x4.add (local.get $a) (f32x4.mul (v128.load (local.get $p)) (v128.load (local.get $q)))))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (br_if $narrow (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))))
    (local.set $a (f32x4.add (f32x4.add (local.get $a) (local.get $b)) (f32x4.add (local.get $c) (local.get $d))))
    (local.set $a (f32x4.add (local.get $a)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a))))
    (local.set $s (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a))))
    (if (result f32) (i32.eqz (local.get $metric))
      (then
        ;; cosine: 0 when either norm is 0 (as $safe_div)
        (local.set $den
          (f32.mul (local.get $qnorm) (f32.load (i32.add (local.get $norms) (i32.shl (local.get $r) (i32.const 2))))))
        (select (f32.div (local.get $s) (local.get $den)) (f32.const 0) (f32.ne (local.get $den) (f32.const 0))))
      (else (local.get $s))))

  ;; Exact float scores of $count candidates into $out[0..$count): candidate i is rows[i] when
  ;; $rows is non-zero, else row i.
  (func (export "score_f32")
    (param $metric i32) (param $q i32) (param $data i32) (param $stride i32) (param $rows i32) (param $count i32)
    (param $norms i32) (param $qnorm f32) (param $out i32)
    (local $i i32) (local $r i32)
    (if (i32.eqz (local.get $count)) (then (return)))
    (loop $each
      (local.set $r
        (if (result i32) (local.get $rows)
          (then (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))))
          (else (local.get $i))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (call $score (local.get $metric) (local.get $q) (local.get $data) (local.get $stride) (local.get $norms)
          (local.get $qnorm) (local.get $r)))
      (br_if $each (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $count)))))

  ;; The int8 score of a row from the integer dot product $dot of its codes with the query's: a row
  ;; value is approximated by code * $scale, a query value by code * $qscale; $vn is the row's norm.
  ;; The dot product is scaled in float64, as the JavaScript kernel scales it.
  (func $score8 (param $metric i32) (param $dot i32) (param $qscale f32) (param $scale f32) (param $qnorm f32)
    (param $vn f32) (result f32)
    (local $s f32)
    (local.set $s (f32.mul
      (f32.demote_f64 (f64.mul (f64.convert_i32_s (local.get $dot)) (f64.promote_f32 (local.get $qscale))))
      (local.get $scale)))
    (if (result f32) (i32.eq (local.get $metric) (i32.const 1))
      (then (local.get $s))
      (else
        (if (result f32) (i32.eqz (local.get $metric))
          (then (call $safe_div (local.get $s) (f32.mul (local.get $qnorm) (local.get $vn))))
          (else
            ;; |q - v|^2 = |q|^2 + |v|^2 - 2 q.v
            (f32.sub (f32.const 0) (f32.sqrt (f32.max (f32.const 0)
              (f32.sub
                (f32.add (f32.mul (local.get $qnorm) (local.get $qnorm)) (f32.mul (local.get $vn) (local.get $vn)))
                (f32.add (local.get $s) (local.get $s)))))))))))

  ;; Approximate int8 scores of $count candidates into $out (same conventions as score_f32), for the
  ;; query's codes sign-extended to i16 at $q (see $score8).
  (func (export "score_i8")
    (param $metric i32) (param $q i32) (param $codes i32) (param $cstride i32) (param $rows i32) (param $count i32)
    (param $scales i32) (param $norms i32) (param $qscale f32) (param $qnorm f32) (param $out i32)
    (local $i i32) (local $r i32)
    (if (i32.eqz (local.get $count)) (then (return)))
    (loop $each
      (local.set $r
        (if (result i32) (local.get $rows)
          (then (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))))
          (else (local.get $i))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (call $score8 (local.get $metric)
          (call $dot_i8 (local.get $q)
            (i32.add (local.get $codes) (i32.mul (local.get $r) (local.get $cstride))) (local.get $cstride))
          (local.get $qscale) (f32.load (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2))))
          (local.get $qnorm) (f32.load (i32.add (local.get $norms) (i32.shl (local.get $r) (i32.const 2))))))
      (br_if $each (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $count)))))

  ;; Stored row $r scored against stored row $base: float rows of `stride` bytes at $data, or, when
  ;; $scales is non-zero, int8 codes of `stride` bytes at $data with their scales at $scales.
  (func $score_row
    (param $metric i32) (param $data i32) (param $stride i32) (param $norms i32) (param $scales i32)
    (param $base i32) (param $r i32) (result f32)
    (local $q i32) (local $qnorm f32)
    (local.set $q (i32.add (local.get $data) (i32.mul (local.get $base) (local.get $stride))))
    (local.set $qnorm (f32.load (i32.add (local.get $norms) (i32.shl (local.get $base) (i32.const 2)))))
    (if (result f32) (local.get $scales)
      (then
        (call $score8 (local.get $metric)
          (call $dot_i8i8 (local.get $q) (i32.add (local.get $data) (i32.mul (local.get $r) (local.get $stride)))
            (local.get $stride))
          (f32.load (i32.add (local.get $scales) (i32.shl (local.get $base) (i32.const 2))))
          (f32.load (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2))))
          (local.get $qnorm) (f32.load (i32.add (local.get $norms) (i32.shl (local.get $r) (i32.const 2))))))
      (else
        (call $score (local.get $metric) (local.get $q) (local.get $data) (local.get $stride) (local.get $norms)
          (local.get $qnorm) (local.get $r)))))

  ;; ---- HNSW graph (hnsw.ts runs the same steps in JavaScript for the JavaScript kernel and the
  ;; upper layers; with equal scores both build and walk the same graph). Heaps hold
  ;; (key f32, row u32) pairs with the lowest key at the root, and move entries exactly as heaps.ts
  ;; Heap does, so that ties fall the same way.

  ;; The 24-bit row id at $p (a 4-byte load: lists are followed by other memory).
  (func $get24 (param $p i32) (result i32)
    (i32.and (i32.load (local.get $p)) (i32.const 0xffffff)))

  ;; Writes the 24-bit row id $v at $p.
  (func $put24 (param $p i32) (param $v i32)
    (i32.store16 (local.get $p) (local.get $v))
    (i32.store8 offset=2 (local.get $p) (i32.shr_u (local.get $v) (i32.const 16))))

  ;; Pushes (key, row) onto the heap of $n pairs at $h.
  (func $push (param $h i32) (param $n i32) (param $key f32) (param $row i32)
    (local $i i32) (local $parent i32) (local $pp i32)
    (local.set $i (local.get $n))
    (block $done
      (loop $up
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $parent (i32.shr_u (i32.sub (local.get $i) (i32.const 1)) (i32.const 1)))
        (local.set $pp (i32.add (local.get $h) (i32.shl (local.get $parent) (i32.const 3))))
        (br_if $done (f32.le (f32.load (local.get $pp)) (local.get $key)))
        (i64.store (i32.add (local.get $h) (i32.shl (local.get $i) (i32.const 3))) (i64.load (local.get $pp)))
        (local.set $i (local.get $parent))
        (br $up)))
    (local.set $pp (i32.add (local.get $h) (i32.shl (local.get $i) (i32.const 3))))
    (f32.store (local.get $pp) (local.get $key))
    (i32.store offset=4 (local.get $pp) (local.get $row)))

  ;; Removes the root of the heap at $h, which holds $n pairs after the removal.
  (func $pop (param $h i32) (param $n i32)
    (local $i i32) (local $child i32) (local $cp i32) (local $key f32) (local $row i32)
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $cp (i32.add (local.get $h) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $key (f32.load (local.get $cp)))
    (local.set $row (i32.load offset=4 (local.get $cp)))
    (block $done
      (loop $down
        (local.set $child (i32.add (i32.shl (local.get $i) (i32.const 1)) (i32.const 1)))
        (br_if $done (i32.ge_u (local.get $child) (local.get $n)))
        (local.set $cp (i32.add (local.get $h) (i32.shl (local.get $child) (i32.const 3))))
        (if (i32.lt_u (i32.add (local.get $child) (i32.const 1)) (local.get $n))
          (then
            (if (f32.lt (f32.load offset=8 (local.get $cp)) (f32.load (local.get $cp)))
              (then
                (local.set $child (i32.add (local.get $child) (i32.const 1)))
                (local.set $cp (i32.add (local.get $cp) (i32.const 8)))))))
        (br_if $done (f32.ge (f32.load (local.get $cp)) (local.get $key)))
        (i64.store (i32.add (local.get $h) (i32.shl (local.get $i) (i32.const 3))) (i64.load (local.get $cp)))
        (local.set $i (local.get $child))
        (br $down)))
    (local.set $cp (i32.add (local.get $h) (i32.shl (local.get $i) (i32.const 3))))
    (f32.store (local.get $cp) (local.get $key))
    (i32.store offset=4 (local.get $cp) (local.get $row)))

  ;; Whether a walk may return $row: not $exclude, and when $accept is non-zero, its byte there is 1.
  (func $accepts (param $row i32) (param $exclude i32) (param $accept i32) (result i32)
    (if (result i32) (i32.eq (local.get $row) (local.get $exclude))
      (then (i32.const 0))
      (else
        (if (result i32) (local.get $accept)
          (then (i32.eq (i32.load8_u (i32.add (local.get $accept) (local.get $row))) (i32.const 1)))
          (else (i32.const 1))))))

  ;; Beam search on layer 0 for the query at $q (norm $qnorm): from the $count entry pairs
  ;; (score, row) at $found, the best $ef rows that $accepts, left best first as (score, row)
  ;; pairs at $found; returns how many (the walk goes through the other rows too). Rows >= $size are skipped; $visited marks rows with $mark;
  ;; $heap holds the candidates (room for one pair per row); $batch, a node's unvisited neighbours.
  ;; Rows are float rows at $data, or, when $scales is non-zero, int8 codes there (`stride` bytes
  ;; each, scales at $scales) scored against the query's codes as i16 at $q (scale $qscale).
  (func (export "walk")
    (param $metric i32) (param $q i32) (param $data i32) (param $stride i32) (param $norms i32) (param $qnorm f32)
    (param $scales i32) (param $qscale f32)
    (param $links i32) (param $lstride i32) (param $size i32) (param $visited i32) (param $mark i32)
    (param $ef i32) (param $exclude i32) (param $found i32) (param $count i32) (param $heap i32) (param $batch i32)
    (param $accept i32) (result i32)
    (local $nc i32) (local $nr i32) (local $i i32) (local $row i32) (local $s f32)
    (local $at i32) (local $end i32) (local $vp i32) (local $top i64)
    (local $bn i32) (local $p i32) (local $pend i32) (local $sink v128)
    ;; Entries: read in place (the results heap never reaches past the entry being read).
    (block $entered
      (loop $enter
        (br_if $entered (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $at (i32.add (local.get $found) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $s (f32.load (local.get $at)))
        (local.set $row (i32.load offset=4 (local.get $at)))
        (i32.store (i32.add (local.get $visited) (i32.shl (local.get $row) (i32.const 2))) (local.get $mark))
        (call $push (local.get $heap) (local.get $nc) (f32.neg (local.get $s)) (local.get $row))
        (local.set $nc (i32.add (local.get $nc) (i32.const 1)))
        (if (call $accepts (local.get $row) (local.get $exclude) (local.get $accept))
          (then
            (call $push (local.get $found) (local.get $nr) (local.get $s) (local.get $row))
            (local.set $nr (i32.add (local.get $nr) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $enter)))
    (block $stop
      (loop $beam
        (br_if $stop (i32.eqz (local.get $nc)))
        (local.set $s (f32.neg (f32.load (local.get $heap))))
        (local.set $row (i32.load offset=4 (local.get $heap)))
        (if (i32.ge_u (local.get $nr) (local.get $ef))
          (then (br_if $stop (f32.lt (local.get $s) (f32.load (local.get $found))))))
        (local.set $nc (i32.sub (local.get $nc) (i32.const 1)))
        (call $pop (local.get $heap) (local.get $nc))
        ;; The unvisited neighbours first, each row touched a cache line at a time so that their loads
        ;; overlap (WebAssembly has no prefetch), then scored in list order.
        (local.set $at (i32.add (local.get $links) (i32.mul (local.get $row) (local.get $lstride))))
        (local.set $end (i32.add (i32.add (local.get $at) (i32.const 4)) (i32.mul (i32.load (local.get $at)) (i32.const 3))))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (local.set $bn (local.get $batch))
        (block $listed
          (loop $each
            (br_if $listed (i32.ge_u (local.get $at) (local.get $end)))
            (local.set $row (i32.and (i32.load (local.get $at)) (i32.const 0xffffff)))
            (local.set $at (i32.add (local.get $at) (i32.const 3)))
            (br_if $each (i32.ge_u (local.get $row) (local.get $size)))
            (local.set $vp (i32.add (local.get $visited) (i32.shl (local.get $row) (i32.const 2))))
            (br_if $each (i32.eq (i32.load (local.get $vp)) (local.get $mark)))
            (i32.store (local.get $vp) (local.get $mark))
            (i32.store (local.get $bn) (local.get $row))
            (local.set $bn (i32.add (local.get $bn) (i32.const 4)))
            (local.set $p (i32.add (local.get $data) (i32.mul (local.get $row) (local.get $stride))))
            (local.set $pend (i32.add (local.get $p) (local.get $stride)))
            (loop $touch
              (local.set $sink (v128.xor (local.get $sink) (v128.load (local.get $p))))
              (br_if $touch (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $pend))))
            (br $each)))
        (local.set $at (local.get $batch))
        (block $scored
          (loop $each
            (br_if $scored (i32.ge_u (local.get $at) (local.get $bn)))
            (local.set $row (i32.load (local.get $at)))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (local.set $s
              (if (result f32) (local.get $scales)
                (then
                  (call $score8 (local.get $metric)
                    (call $dot_i8 (local.get $q)
                      (i32.add (local.get $data) (i32.mul (local.get $row) (local.get $stride))) (local.get $stride))
                    (local.get $qscale) (f32.load (i32.add (local.get $scales) (i32.shl (local.get $row) (i32.const 2))))
                    (local.get $qnorm) (f32.load (i32.add (local.get $norms) (i32.shl (local.get $row) (i32.const 2))))))
                (else
                  (call $score (local.get $metric) (local.get $q) (local.get $data) (local.get $stride)
                    (local.get $norms) (local.get $qnorm) (local.get $row)))))
            (if (i32.or (i32.lt_u (local.get $nr) (local.get $ef)) (f32.gt (local.get $s) (f32.load (local.get $found))))
              (then
                (call $push (local.get $heap) (local.get $nc) (f32.neg (local.get $s)) (local.get $row))
                (local.set $nc (i32.add (local.get $nc) (i32.const 1)))
                (if (call $accepts (local.get $row) (local.get $exclude) (local.get $accept))
                  (then
                    (call $push (local.get $found) (local.get $nr) (local.get $s) (local.get $row))
                    (local.set $nr (i32.add (local.get $nr) (i32.const 1)))
                    (if (i32.gt_u (local.get $nr) (local.get $ef))
                      (then
                        (local.set $nr (i32.sub (local.get $nr) (i32.const 1)))
                        (call $pop (local.get $found) (local.get $nr))))))))
            (br $each)))
        (br $beam)))
    ;; Heap order to best first: each root (the worst left) goes to the end.
    (local.set $i (local.get $nr))
    (block $sorted
      (loop $drain
        (br_if $sorted (i32.eqz (local.get $i)))
        (local.set $top (i64.load (local.get $found)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (call $pop (local.get $found) (local.get $i))
        (i64.store (i32.add (local.get $found) (i32.shl (local.get $i) (i32.const 3))) (local.get $top))
        (br $drain)))
    ;; The touched values go nowhere useful, but somewhere: a load whose value is never used could be dropped.
    (v128.store (local.get $batch) (local.get $sink))
    (local.get $nr))

  ;; The HNSW heuristic: of the $count (score, row) pairs at $pairs (best first, scored against one
  ;; base row), keeps up to $m in order, each closer to the base than to every row kept before it;
  ;; writes the kept rows at $out (24-bit ids) and returns how many.
  (func $select
    (param $metric i32) (param $data i32) (param $stride i32) (param $norms i32) (param $scales i32)
    (param $pairs i32) (param $count i32) (param $m i32) (param $out i32) (result i32)
    (local $i i32) (local $j i32) (local $kept i32) (local $row i32) (local $s f32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (br_if $done (i32.ge_u (local.get $kept) (local.get $m)))
        (local.set $s (f32.load (i32.add (local.get $pairs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $row (i32.load offset=4 (i32.add (local.get $pairs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.gt_u (local.get $count) (local.get $m))
          (then
            (local.set $j (i32.const 0))
            (block $good
              (loop $against
                (br_if $good (i32.ge_u (local.get $j) (local.get $kept)))
                (br_if $each (f32.gt
                  (call $score_row (local.get $metric) (local.get $data) (local.get $stride) (local.get $norms)
                    (local.get $scales) (local.get $row)
                    (call $get24 (i32.add (local.get $out) (i32.mul (local.get $j) (i32.const 3)))))
                  (local.get $s)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $against)))))
        (call $put24 (i32.add (local.get $out) (i32.mul (local.get $kept) (i32.const 3))) (local.get $row))
        (local.set $kept (i32.add (local.get $kept) (i32.const 1)))
        (br $each)))
    (local.get $kept))

  ;; Adds $row to the layer-0 list of $node; a full list (of $max) is re-chosen with the heuristic
  ;; among its links below $size and $row, scored against $node and sorted best first (stably) in
  ;; the pairs at $scratch.
  (func $link
    (param $metric i32) (param $data i32) (param $stride i32) (param $norms i32) (param $scales i32) (param $links i32)
    (param $lstride i32) (param $size i32) (param $node i32) (param $row i32) (param $max i32) (param $scratch i32)
    (local $at i32) (local $degree i32) (local $j i32) (local $n i32) (local $linked i32) (local $p i32)
    (local $s f32)
    (local.set $at (i32.add (local.get $links) (i32.mul (local.get $node) (local.get $lstride))))
    (local.set $degree (i32.load (local.get $at)))
    (block $absent
      (loop $seek
        (br_if $absent (i32.ge_u (local.get $j) (local.get $degree)))
        (if (i32.eq (call $get24 (i32.add (local.get $at) (i32.add (i32.const 4) (i32.mul (local.get $j) (i32.const 3)))))
              (local.get $row))
          (then (return)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $seek)))
    (if (i32.lt_u (local.get $degree) (local.get $max))
      (then
        (call $put24 (i32.add (local.get $at) (i32.add (i32.const 4) (i32.mul (local.get $degree) (i32.const 3))))
          (local.get $row))
        (i32.store (local.get $at) (i32.add (local.get $degree) (i32.const 1)))
        (return)))
    (local.set $j (i32.const 0))
    ;; Links to rows past the end (left by deletes the graph could not see) are dropped here.
    (loop $gather
      (local.set $linked
        (if (result i32) (i32.lt_u (local.get $j) (local.get $degree))
          (then (call $get24 (i32.add (local.get $at) (i32.add (i32.const 4) (i32.mul (local.get $j) (i32.const 3))))))
          (else (local.get $row))))
      (if (i32.and (i32.lt_u (local.get $linked) (local.get $size)) (i32.ne (local.get $linked) (local.get $node)))
        (then
          (local.set $s (call $score_row (local.get $metric) (local.get $data) (local.get $stride) (local.get $norms)
            (local.get $scales) (local.get $node) (local.get $linked)))
          ;; Insertion sort, best first; equal scores keep their order.
          (local.set $p (i32.add (local.get $scratch) (i32.shl (local.get $n) (i32.const 3))))
          (block $placed
            (loop $shift
              (br_if $placed (i32.eq (local.get $p) (local.get $scratch)))
              (br_if $placed (i32.eqz (f32.lt (f32.load offset=0 (i32.sub (local.get $p) (i32.const 8))) (local.get $s))))
              (i64.store (local.get $p) (i64.load (i32.sub (local.get $p) (i32.const 8))))
              (local.set $p (i32.sub (local.get $p) (i32.const 8)))
              (br $shift)))
          (f32.store (local.get $p) (local.get $s))
          (i32.store offset=4 (local.get $p) (local.get $linked))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (br_if $gather (i32.le_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $degree))))
    (i32.store (local.get $at)
      (call $select (local.get $metric) (local.get $data) (local.get $stride) (local.get $norms) (local.get $scales)
        (local.get $scratch) (local.get $n) (local.get $max) (i32.add (local.get $at) (i32.const 4)))))

  ;; Links $row on layer 0 after a `walk` for it left $count pairs at $found: its own list is the
  ;; heuristic's choice of up to $m of them, and each chosen row links back to it (up to $max). Rows
  ;; are scored as `walk` scores them: float rows, or int8 codes when $scales is non-zero.
  (func (export "connect")
    (param $metric i32) (param $data i32) (param $stride i32) (param $norms i32) (param $scales i32) (param $links i32)
    (param $lstride i32) (param $size i32) (param $row i32) (param $found i32) (param $count i32) (param $m i32)
    (param $max i32) (param $scratch i32)
    (local $at i32) (local $kept i32) (local $j i32)
    (local.set $at (i32.add (local.get $links) (i32.mul (local.get $row) (local.get $lstride))))
    (local.set $kept (call $select (local.get $metric) (local.get $data) (local.get $stride) (local.get $norms)
      (local.get $scales) (local.get $found) (local.get $count) (local.get $m) (i32.add (local.get $at) (i32.const 4))))
    (i32.store (local.get $at) (local.get $kept))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $j) (local.get $kept)))
        (call $link (local.get $metric) (local.get $data) (local.get $stride) (local.get $norms) (local.get $scales)
          (local.get $links) (local.get $lstride) (local.get $size)
          (call $get24 (i32.add (local.get $at) (i32.add (i32.const 4) (i32.mul (local.get $j) (i32.const 3)))))
          (local.get $row) (local.get $max) (local.get $scratch))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $each))))
)

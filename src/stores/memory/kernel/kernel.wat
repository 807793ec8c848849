;; kumiki dense-vector search kernel (WebAssembly SIMD128).
;;
;; Assembled by scripts/build-kernel.ts into kernel-wasm.generated.ts. The memory is imported so
;; that every VectorArena owns one; the JS side (arena.ts) decides the layout:
;;   - float rows: `stride` bytes each (dimensions padded with zeros to a multiple of 4 floats),
;;   - int8 rows: `cstride` bytes each (codes padded with zeros to a multiple of 16),
;;   - the float query (same padding) and the int8 query sign-extended to i16 (2 * cstride bytes),
;;   - per-row norms and int8 scales (f32), candidate row ids (u32) and the output scores (f32).
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

  ;; Sum of the four lanes of an f32x4.
  (func $hsum (param $v v128) (result f32)
    (local.set $v (f32x4.add (local.get $v)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
    (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v))))

  ;; Dot product of the query at $q and the row at $p, $n bytes each ($n a multiple of 16).
  (func $dot (param $q i32) (param $p i32) (param $n i32) (result f32)
    (local $end i32) (local $end64 i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $end64 (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -64))))
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
    (call $hsum (f32x4.add (f32x4.add (local.get $a) (local.get $b)) (f32x4.add (local.get $c) (local.get $d)))))

  ;; Squared L2 distance between the query at $q and the row at $p (same conventions as $dot).
  (func $l2sq (param $q i32) (param $p i32) (param $n i32) (result f32)
    (local $end i32) (local $end64 i32) (local $t v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $end64 (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -64))))
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
    (call $hsum (f32x4.add (f32x4.add (local.get $a) (local.get $b)) (f32x4.add (local.get $c) (local.get $d)))))

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

  ;; $num / $den, or 0 when $den is 0.
  (func $safe_div (param $num f32) (param $den f32) (result f32)
    (select
      (f32.div (local.get $num) (local.get $den))
      (f32.const 0)
      (f32.ne (local.get $den) (f32.const 0))))

  ;; Exact float scores of $count candidates into $out[0..$count): candidate i is rows[i] when
  ;; $rows is non-zero, else row i.
  (func (export "score_f32")
    (param $metric i32) (param $q i32) (param $data i32) (param $stride i32) (param $rows i32) (param $count i32)
    (param $norms i32) (param $qnorm f32) (param $out i32)
    (local $i i32) (local $r i32) (local $s f32)
    (if (i32.eqz (local.get $count)) (then (return)))
    (loop $each
      (local.set $r
        (if (result i32) (local.get $rows)
          (then (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))))
          (else (local.get $i))))
      (if (i32.eq (local.get $metric) (i32.const 2))
        (then
          (local.set $s (f32.sub (f32.const 0) (f32.sqrt (call $l2sq (local.get $q)
            (i32.add (local.get $data) (i32.mul (local.get $r) (local.get $stride))) (local.get $stride))))))
        (else
          (local.set $s (call $dot (local.get $q)
            (i32.add (local.get $data) (i32.mul (local.get $r) (local.get $stride))) (local.get $stride)))
          (if (i32.eqz (local.get $metric))
            (then
              (local.set $s (call $safe_div (local.get $s)
                (f32.mul (local.get $qnorm)
                  (f32.load (i32.add (local.get $norms) (i32.shl (local.get $r) (i32.const 2)))))))))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
      (br_if $each (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $count)))))

  ;; Approximate int8 scores of $count candidates into $out (same conventions as score_f32).
  ;; A row value is approximated by code * scale, a query value by code * $qscale.
  (func (export "score_i8")
    (param $metric i32) (param $q i32) (param $codes i32) (param $cstride i32) (param $rows i32) (param $count i32)
    (param $scales i32) (param $norms i32) (param $qscale f32) (param $qnorm f32) (param $out i32)
    (local $i i32) (local $r i32) (local $s f32) (local $vn f32)
    (if (i32.eqz (local.get $count)) (then (return)))
    (loop $each
      (local.set $r
        (if (result i32) (local.get $rows)
          (then (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))))
          (else (local.get $i))))
      (local.set $s
        (f32.mul
          (f32.mul
            (f32.convert_i32_s (call $dot_i8 (local.get $q)
              (i32.add (local.get $codes) (i32.mul (local.get $r) (local.get $cstride))) (local.get $cstride)))
            (local.get $qscale))
          (f32.load (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2))))))
      (if (i32.ne (local.get $metric) (i32.const 1))
        (then
          (local.set $vn (f32.load (i32.add (local.get $norms) (i32.shl (local.get $r) (i32.const 2)))))
          (if (i32.eqz (local.get $metric))
            (then (local.set $s (call $safe_div (local.get $s) (f32.mul (local.get $qnorm) (local.get $vn)))))
            (else
              ;; |q - v|^2 = |q|^2 + |v|^2 - 2 q.v
              (local.set $s
                (f32.sub (f32.const 0) (f32.sqrt (f32.max (f32.const 0)
                  (f32.sub
                    (f32.add (f32.mul (local.get $qnorm) (local.get $qnorm)) (f32.mul (local.get $vn) (local.get $vn)))
                    (f32.add (local.get $s) (local.get $s)))))))))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
      (br_if $each (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $count)))))
)

//! Hot targets from infrared: pixels hotter than the ambient by a
//! threshold, grouped into blobs, placed in 3D with the depth image
//! registered into the infrared camera, then tracked.

use nalgebra::{Isometry3, Point3, Vector3};
use recede_msg::{CameraIntrinsics, InfraredImage, Target};

use crate::{Registration, TargetConfig};

/// One blob of one infrared image, before tracking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blob {
    /// Centroid, continuous pixel coordinates.
    pub centroid_px: (f64, f64),
    pub pixels: u32,
    pub temperature_k: f64,
    /// Depth along the optical axis from the registered depth, m.
    pub depth_m: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Track {
    target: Target,
    variance: f64,
    confirmed: bool,
    matched: bool,
}

/// Infrared images to target tracks.
#[derive(Debug, Clone)]
pub struct TargetFinder {
    config: TargetConfig,
    k: CameraIntrinsics,
    labels: Vec<u32>,
    stack: Vec<u32>,
    scratch: Vec<f32>,
    depths: Vec<f32>,
    blobs: Vec<Blob>,
    tracks: Vec<Track>,
    confirmed: Vec<Target>,
    next_id: u32,
    /// Blobs that could not be placed (no registered depth).
    pub unplaced_blobs: u64,
}

impl TargetFinder {
    pub fn new(config: &TargetConfig, k: CameraIntrinsics) -> Self {
        let n = k.pixel_count();
        let max = config.max_targets as usize;
        Self {
            config: config.clone(),
            k,
            labels: vec![0; n],
            stack: Vec::with_capacity(n),
            scratch: Vec::with_capacity(n),
            depths: Vec::with_capacity(n),
            blobs: Vec::with_capacity(64),
            tracks: Vec::with_capacity(max),
            confirmed: Vec::with_capacity(max),
            next_id: 1,
            unplaced_blobs: 0,
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.confirmed
    }

    pub fn last_blobs(&self) -> &[Blob] {
        &self.blobs
    }

    /// The ambient temperature this image is thresholded against, K.
    fn ambient(&mut self, image: &InfraredImage) -> f64 {
        if let Some(t) = self.config.ambient_temperature_k {
            return t;
        }
        self.scratch.clear();
        self.scratch
            .extend(image.data.iter().copied().filter(|v| v.is_finite()));
        if self.scratch.is_empty() {
            return f64::INFINITY;
        }
        let mid = self.scratch.len() / 2;
        let (_, m, _) = self.scratch.select_nth_unstable_by(mid, f32::total_cmp);
        *m as f64
    }

    /// Extracts the blobs of one image; `registration` places them.
    pub fn blobs(
        &mut self,
        image: &InfraredImage,
        mut registration: Option<&mut Registration>,
    ) -> &[Blob] {
        self.blobs.clear();
        let (w, h) = (image.width_px as usize, image.height_px as usize);
        if w != self.k.width_px as usize
            || h != self.k.height_px as usize
            || image.data.len() != w * h
        {
            return &self.blobs;
        }
        let threshold = self.ambient(image) + self.config.threshold_above_ambient_k;
        let hot = |v: f32| v.is_finite() && v as f64 > threshold;
        self.labels.fill(0);
        let mut next = 0;
        for start in 0..w * h {
            if self.labels[start] != 0 || !hot(image.data[start]) {
                continue;
            }
            next += 1;
            self.labels[start] = next;
            self.stack.clear();
            self.stack.push(start as u32);
            let (mut n, mut su, mut sv, mut peak) = (0u32, 0.0, 0.0, f64::NEG_INFINITY);
            let (mut x0, mut x1, mut y0, mut y1) = (w, 0, h, 0);
            // Flood fill (4-connected): centroid, peak, bounding box.
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (u, v) = (i % w, i / w);
                n += 1;
                su += u as f64 + 0.5;
                sv += v as f64 + 0.5;
                (x0, x1, y0, y1) = (x0.min(u), x1.max(u), y0.min(v), y1.max(v));
                let t = image.data[i] as f64;
                peak = peak.max(t);
                let push = |j: usize, labels: &mut Vec<u32>, stack: &mut Vec<u32>| {
                    if labels[j] == 0 && hot(image.data[j]) {
                        labels[j] = next;
                        stack.push(j as u32);
                    }
                };
                if u > 0 {
                    push(i - 1, &mut self.labels, &mut self.stack);
                }
                if u + 1 < w {
                    push(i + 1, &mut self.labels, &mut self.stack);
                }
                if v > 0 {
                    push(i - w, &mut self.labels, &mut self.stack);
                }
                if v + 1 < h {
                    push(i + w, &mut self.labels, &mut self.stack);
                }
            }
            if n < self.config.min_pixels || self.blobs.len() == self.blobs.capacity() {
                continue;
            }
            // Temperature: the mean of the blob's upper half (edge pixels
            // mix in the background); the registered depths of its pixels
            // (its box, row-major: the order of a whole-image scan).
            let half = 0.5 * (threshold + peak);
            let (mut st, mut nt) = (0.0, 0usize);
            let z = registration
                .as_deref_mut()
                .filter(|r| r.infrared_size() == (w, h))
                .map(|r| r.cover([x0 as i64, x1 as i64, y0 as i64, y1 as i64]));
            self.depths.clear();
            for y in y0..=y1 {
                for i in y * w + x0..=y * w + x1 {
                    if self.labels[i] != next {
                        continue;
                    }
                    if image.data[i] as f64 >= half {
                        st += image.data[i] as f64;
                        nt += 1;
                    }
                    if let Some(z) = z.filter(|z| z[i].is_finite()) {
                        self.depths.push(z[i]);
                    }
                }
            }
            // A hot pixel sees the hot surface, so no depth behind it can be
            // right, while the registration's footprint lets a nearer
            // occluder bleed in at the blob's edge: take the upper quartile.
            let depth_m = if self.depths.is_empty() {
                None
            } else {
                let q = (3 * self.depths.len()) / 4;
                let (_, m, _) = self.depths.select_nth_unstable_by(q, f32::total_cmp);
                Some(*m as f64)
            };
            self.blobs.push(Blob {
                centroid_px: (su / n as f64, sv / n as f64),
                pixels: n,
                temperature_k: if nt > 0 { st / nt as f64 } else { peak },
                depth_m,
            });
        }
        &self.blobs
    }

    /// One infrared image taken from `world_from_camera`: blobs, placed
    /// with `registration` when its depth image is close enough in time,
    /// then tracked.
    pub fn frame(
        &mut self,
        t_secs: f64,
        image: &InfraredImage,
        registration: Option<&mut Registration>,
        world_from_camera: &Isometry3<f64>,
    ) {
        let registration = registration
            .filter(|r| (r.stamp_secs() - t_secs).abs() <= self.config.max_depth_offset_secs);
        self.blobs(image, registration);
        for t in &mut self.tracks {
            t.matched = false;
        }
        for b in 0..self.blobs.len() {
            let blob = self.blobs[b];
            let Some(depth) = blob.depth_m else {
                self.unplaced_blobs += 1;
                continue;
            };
            let ray = Vector3::new(
                (blob.centroid_px.0 - self.k.cx_px) / self.k.fx_px,
                (blob.centroid_px.1 - self.k.cy_px) / self.k.fy_px,
                1.0,
            );
            let p = (world_from_camera * Point3::from(ray * depth)).coords;
            let meas_var = (0.05 + 0.03 * depth).powi(2);
            let mut best: Option<(usize, f64)> = None;
            for (i, tr) in self.tracks.iter().enumerate() {
                let gap = (tr.target.position_m - p).norm();
                if !tr.matched
                    && gap < self.config.association_gate_m
                    && best.is_none_or(|(_, g)| gap < g)
                {
                    best = Some((i, gap));
                }
            }
            match best {
                Some((i, _)) => {
                    let tr = &mut self.tracks[i];
                    let gain = tr.variance / (tr.variance + meas_var);
                    tr.target.position_m += (p - tr.target.position_m) * gain;
                    tr.variance = (1.0 - gain) * tr.variance + 1e-4;
                    tr.target.temperature_k += 0.3 * (blob.temperature_k - tr.target.temperature_k);
                    tr.target.hits += 1;
                    tr.target.last_seen_secs = t_secs;
                    tr.matched = true;
                    tr.confirmed |= tr.target.hits >= self.config.confirm_hits;
                }
                None if self.tracks.len() < self.tracks.capacity() => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track {
                        target: Target {
                            id,
                            position_m: p,
                            position_std_m: meas_var.sqrt(),
                            temperature_k: blob.temperature_k,
                            hits: 1,
                            last_seen_secs: t_secs,
                        },
                        variance: meas_var,
                        confirmed: self.config.confirm_hits <= 1,
                        matched: true,
                    });
                }
                None => {}
            }
        }
        let expiry = self.config.expiry_secs;
        self.tracks
            .retain(|t| t_secs - t.target.last_seen_secs <= expiry);
        self.confirmed.clear();
        for t in &mut self.tracks {
            t.target.position_std_m = t.variance.sqrt();
            if t.confirmed {
                self.confirmed.push(t.target);
            }
        }
    }

    /// The hottest confirmed target.
    pub fn hottest(&self) -> Option<&Target> {
        self.confirmed
            .iter()
            .max_by(|a, b| a.temperature_k.total_cmp(&b.temperature_k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::testing;
    use proptest::prelude::*;
    use rand::RngExt;

    /// The blobs as they were found before the registration was asked per
    /// blob box: depths read from the whole image's registration during
    /// the flood fill, the temperature from a scan of the whole image.
    fn reference_blobs(
        finder: &mut TargetFinder,
        image: &InfraredImage,
        z: Option<&[f32]>,
    ) -> Vec<Blob> {
        let (w, h) = (image.width_px as usize, image.height_px as usize);
        let threshold = finder.ambient(image) + finder.config.threshold_above_ambient_k;
        let hot = |v: f32| v.is_finite() && v as f64 > threshold;
        let mut labels = vec![0u32; w * h];
        let mut blobs = Vec::new();
        let mut next = 0;
        for start in 0..w * h {
            if labels[start] != 0 || !hot(image.data[start]) {
                continue;
            }
            next += 1;
            labels[start] = next;
            let mut stack = vec![start];
            let (mut n, mut su, mut sv, mut peak) = (0u32, 0.0, 0.0, f64::NEG_INFINITY);
            let mut depths = Vec::new();
            while let Some(i) = stack.pop() {
                let (u, v) = (i % w, i / w);
                n += 1;
                su += u as f64 + 0.5;
                sv += v as f64 + 0.5;
                peak = peak.max(image.data[i] as f64);
                if let Some(z) = z.filter(|z| z[i].is_finite()) {
                    depths.push(z[i]);
                }
                let near = [
                    (u > 0).then(|| i - 1),
                    (u + 1 < w).then(|| i + 1),
                    (v > 0).then(|| i - w),
                    (v + 1 < h).then(|| i + w),
                ];
                for j in near.into_iter().flatten() {
                    if labels[j] == 0 && hot(image.data[j]) {
                        labels[j] = next;
                        stack.push(j);
                    }
                }
            }
            if n < finder.config.min_pixels || blobs.len() == finder.blobs.capacity() {
                continue;
            }
            let half = 0.5 * (threshold + peak);
            let (mut st, mut nt) = (0.0, 0usize);
            for (i, &l) in labels.iter().enumerate() {
                if l == next && image.data[i] as f64 >= half {
                    st += image.data[i] as f64;
                    nt += 1;
                }
            }
            let depth_m = (!depths.is_empty()).then(|| {
                let q = (3 * depths.len()) / 4;
                *depths.select_nth_unstable_by(q, f32::total_cmp).1 as f64
            });
            blobs.push(Blob {
                centroid_px: (su / n as f64, sv / n as f64),
                pixels: n,
                temperature_k: if nt > 0 { st / nt as f64 } else { peak },
                depth_m,
            });
        }
        blobs
    }

    /// An infrared image: ambient 293 K with 0.3 K of noise, hot boxes and
    /// discs (some cut by the border), hot single pixels (too small).
    fn infrared(rng: &mut rand_chacha::ChaCha8Rng, k: &CameraIntrinsics) -> InfraredImage {
        let (w, h) = (k.width_px as usize, k.height_px as usize);
        let mut img = InfraredImage::filled(k.width_px, k.height_px, 293.0);
        for t in &mut img.data {
            *t += 0.3 * rng.random_range(-1.0f32..1.0);
        }
        for _ in 0..rng.random_range(0..6) {
            let temp = rng.random_range(305.0..600.0);
            let (cu, cv) = (
                rng.random_range(0.0..w as f64),
                rng.random_range(0.0..h as f64),
            );
            let (ru, rv) = (
                rng.random_range(0.5..0.3 * w as f64),
                rng.random_range(0.5..0.3 * h as f64),
            );
            for v in 0..h {
                for u in 0..w {
                    let (x, y) = ((u as f64 + 0.5 - cu) / ru, (v as f64 + 0.5 - cv) / rv);
                    if x * x + y * y <= 1.0 || (temp > 450.0 && x.abs().max(y.abs()) <= 1.0) {
                        img.data[v * w + u] = (temp + rng.random_range(-3.0..3.0)) as f32;
                    }
                }
            }
        }
        for _ in 0..rng.random_range(0..4) {
            let i = rng.random_range(0..w * h);
            img.data[i] = 400.0;
        }
        img
    }

    /// The blobs placed through the per-box registration are the blobs of
    /// the whole reprojection to the bit (centroid, pixels, temperature,
    /// depth): random cameras, poses, depth and infrared images, two
    /// infrared images per depth image and two depth images.
    #[test]
    fn blobs_equal_those_of_the_whole_registration() {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let (placed, unplaced) = (AtomicUsize::new(0), AtomicUsize::new(0));
        proptest!(ProptestConfig::with_cases(96), |(seed: u64, wide in proptest::bool::ANY)| {
            let mut rng = testing::rng(seed);
            let (ir, dk) = (testing::camera(&mut rng), testing::camera(&mut rng));
            let pose = testing::pose(&mut rng, if wide { 1.2 } else { 0.1 });
            let mut registration = Registration::new(ir, dk, pose);
            let mut finder = TargetFinder::new(&TargetConfig::default(), ir);
            let mut reference = TargetFinder::new(&TargetConfig::default(), ir);
            for frame in 0..2 {
                registration.update(frame as f64, &testing::depth(&mut rng, &dk));
                let whole = registration.whole_reference();
                for _ in 0..2 {
                    let image = infrared(&mut rng, &ir);
                    let fast = finder.blobs(&image, Some(&mut registration)).to_vec();
                    let slow = reference_blobs(&mut reference, &image, Some(&whole));
                    prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
                    for b in &fast {
                        let count = if b.depth_m.is_some() { &placed } else { &unplaced };
                        count.fetch_add(1, Relaxed);
                    }
                    let blind = finder.blobs(&image, None).to_vec();
                    let slow = reference_blobs(&mut reference, &image, None);
                    prop_assert_eq!(format!("{blind:?}"), format!("{slow:?}"));
                }
            }
        });
        // The cases place blobs and leave some unplaced.
        let (placed, unplaced) = (placed.into_inner(), unplaced.into_inner());
        assert!(
            placed > 200 && unplaced > 20,
            "{placed} placed, {unplaced} not"
        );
    }
}

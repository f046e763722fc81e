//! Hot targets from infrared: pixels hotter than the ambient by a
//! threshold, grouped into blobs, placed in 3D with the depth image
//! registered into the infrared camera, then tracked.

use nalgebra::{Isometry3, Point3, Vector3};
use recede_msg::{CameraIntrinsics, DepthImage, InfraredImage, Target};

use crate::TargetConfig;

/// Neighbouring depths further apart than this fraction of the depth
/// make a depth edge.
const EDGE_FRACTION: f64 = 0.05;

/// `x.ceil() as i64`, inline: the target has no rounding instruction
/// without SSE4.1, and libm's `ceil` and `floor` were a fifth of the
/// reprojection's time. Exact for |x| < 2^63 (a pixel coordinate).
fn ceil(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) < x {
        t + 1
    } else {
        t
    }
}

/// `x.floor() as i64`, inline (see [`ceil`]).
fn floor(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x {
        t - 1
    } else {
        t
    }
}

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

/// The depth camera's image seen from the infrared camera: per infrared
/// pixel the nearest depth (infrared optical z), `NaN` where none.
///
/// Reprojected only when an infrared frame finds a hot blob to place: a
/// depth frame is kept (one copy) until then. Reprojecting every depth
/// frame was 8% of the flagship's CPU time, for infrared frames that mostly
/// come at a lower rate or find nothing.
#[derive(Debug, Clone)]
pub struct Registration {
    ir: CameraIntrinsics,
    ir_from_depth: Isometry3<f64>,
    depth_k: CameraIntrinsics,
    z: Vec<f32>,
    /// The last depth image, not yet reprojected when `pending`.
    depth: Vec<f32>,
    pending: bool,
    stamp_secs: f64,
}

impl Registration {
    /// `ir_from_depth` maps depth-optical to infrared-optical coordinates.
    pub fn new(
        ir: CameraIntrinsics,
        depth_k: CameraIntrinsics,
        ir_from_depth: Isometry3<f64>,
    ) -> Self {
        Self {
            ir,
            ir_from_depth,
            depth_k,
            z: vec![f32::NAN; ir.pixel_count()],
            depth: Vec::with_capacity(depth_k.pixel_count()),
            pending: false,
            stamp_secs: f64::NEG_INFINITY,
        }
    }

    /// Takes a depth image (reprojected when first needed): a size other
    /// than the depth camera's gives no depth.
    pub fn update(&mut self, stamp_secs: f64, depth: &DepthImage) {
        self.stamp_secs = stamp_secs;
        self.depth.clear();
        let fits = depth.width_px == self.depth_k.width_px
            && depth.height_px == self.depth_k.height_px
            && depth.data.len() == self.depth_k.pixel_count();
        if fits {
            self.depth.extend_from_slice(&depth.data);
        }
        self.pending = true;
    }

    /// The registered depth of infrared pixel `i` (row-major), `NaN` where
    /// none.
    fn z(&mut self, i: usize) -> f32 {
        self.reproject();
        self.z[i]
    }

    /// Reprojects the pending depth image: each depth pixel off a depth
    /// edge fills the infrared pixels whose centres fall inside its own
    /// footprint (its square projected at its depth), nearest surface
    /// first, so that a coarser depth camera leaves no holes and an edge
    /// does not bleed.
    fn reproject(&mut self) {
        if !self.pending {
            return;
        }
        self.pending = false;
        self.z.fill(f32::NAN);
        if self.depth.is_empty() {
            return;
        }
        let (w, h) = (
            self.depth_k.width_px as usize,
            self.depth_k.height_px as usize,
        );
        let depth = &self.depth;
        let (iw, ih) = (self.ir.width_px as i64, self.ir.height_px as i64);
        for v in 0..h {
            for u in 0..w {
                let d = depth[v * w + u] as f64;
                if !(d.is_finite() && d > 0.0) {
                    continue;
                }
                // A pixel on a depth edge mixes two surfaces (and a gap
                // narrower than a depth pixel looks like its border): leave
                // it out rather than lend its depth to the wrong one.
                let differs = |uu: usize, vv: usize| {
                    let n = depth[vv * w + uu] as f64;
                    !(n.is_finite() && (n - d).abs() <= EDGE_FRACTION * d)
                };
                if (u > 0 && differs(u - 1, v))
                    || (u + 1 < w && differs(u + 1, v))
                    || (v > 0 && differs(u, v - 1))
                    || (v + 1 < h && differs(u, v + 1))
                {
                    continue;
                }
                let p = self.ir_from_depth * Point3::from(self.depth_k.ray(u as u32, v as u32) * d);
                let Some(px) = self.ir.project(&p.coords) else {
                    continue;
                };
                // Half the footprint, in infrared pixels.
                let scale = d / p.z;
                let hu = 0.5 * scale * self.ir.fx_px / self.depth_k.fx_px;
                let hv = 0.5 * scale * self.ir.fy_px / self.depth_k.fy_px;
                let (u0, u1) = (ceil(px.x - hu - 0.5), floor(px.x + hu - 0.5));
                let (v0, v1) = (ceil(px.y - hv - 0.5), floor(px.y + hv - 0.5));
                for y in v0.max(0)..v1.min(ih - 1) + 1 {
                    for x in u0.max(0)..u1.min(iw - 1) + 1 {
                        let cell = &mut self.z[(y * iw + x) as usize];
                        if !(cell.is_finite() && (*cell as f64) <= p.z) {
                            *cell = p.z as f32;
                        }
                    }
                }
            }
        }
    }

    pub fn stamp_secs(&self) -> f64 {
        self.stamp_secs
    }
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
            self.depths.clear();
            // Flood fill (4-connected): centroid, peak, registered depths.
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (u, v) = (i % w, i / w);
                n += 1;
                su += u as f64 + 0.5;
                sv += v as f64 + 0.5;
                let t = image.data[i] as f64;
                peak = peak.max(t);
                if let Some(r) = registration.as_deref_mut() {
                    let z = r.z(i);
                    if z.is_finite() {
                        self.depths.push(z);
                    }
                }
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
            // mix in the background).
            let half = 0.5 * (threshold + peak);
            let (mut st, mut nt) = (0.0, 0usize);
            for (i, &l) in self.labels.iter().enumerate() {
                if l == next && image.data[i] as f64 >= half {
                    st += image.data[i] as f64;
                    nt += 1;
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
            .filter(|r| (r.stamp_secs - t_secs).abs() <= self.config.max_depth_offset_secs);
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
    /// The inline roundings agree with the standard library's on pixel
    /// coordinates: negative, integral, halves and values just off them.
    #[test]
    fn inline_ceil_and_floor_match_the_standard_ones() {
        for i in -4000..4000 {
            let base = i as f64 * 0.125;
            for x in [
                base,
                base + 1e-12,
                base - 1e-12,
                f64::from_bits(base.to_bits() + 1),
            ] {
                assert_eq!(super::ceil(x), x.ceil() as i64, "ceil {x}");
                assert_eq!(super::floor(x), x.floor() as i64, "floor {x}");
            }
        }
    }
}

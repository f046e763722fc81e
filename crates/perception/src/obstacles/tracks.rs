//! Tracking: detections associated with tracks, tracks merged,
//! confirmed and dropped.

use nalgebra::{Isometry3, Point3, Vector3};
use recede_msg::{CameraIntrinsics, DepthImage, Obstacle, ObstacleShape};

use super::{Detection, ObstacleConfig, ObstacleMapper};

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Track {
    obstacle: Obstacle,
    variance: f64,
    radius_variance: f64,
    first_seen_secs: f64,
    misses: u32,
    confirmed: bool,
    /// Hit in the current frame (a track takes at most one detection).
    matched: bool,
    /// The first detection that hit it in the current frame.
    frame_hit: Option<Detection>,
}

impl ObstacleMapper {
    pub(super) fn associate(&mut self, t_secs: f64) {
        for tr in &mut self.tracks {
            tr.matched = false;
            tr.frame_hit = None;
        }
        for d in 0..self.detections.len() {
            let det = self.detections[d];
            let mut best: Option<(usize, f64)> = None;
            for (i, tr) in self.tracks.iter().enumerate() {
                let o = &tr.obstacle;
                let gap = gap(o, &det.position_m, det.shape);
                let gate = same_object_gate(&self.config, o.radius_m, det.radius_m);
                if gap < gate && best.is_none_or(|(_, g)| gap < g) {
                    best = Some((i, gap));
                }
            }
            // Measurement spread grows with range (depth noise, pose error).
            let meas_var = (0.03 + 0.02 * det.range_m).powi(2);
            // Two objects apart in this frame that one track took for one
            // (seen merged from afar): the track restarts on the first,
            // and this one gets its own.
            if let Some((i, _)) = best {
                if let Some(first) = self.tracks[i].frame_hit {
                    let apart = (first.position_m.xy() - det.position_m.xy()).norm()
                        > same_object_gate(&self.config, first.radius_m, det.radius_m);
                    if apart {
                        let tr = &mut self.tracks[i];
                        let first_var = (0.03 + 0.02 * first.range_m).powi(2);
                        tr.obstacle.position_m = first.position_m;
                        tr.obstacle.radius_m = first.radius_m;
                        tr.obstacle.shape = first.shape;
                        tr.variance = first_var;
                        tr.radius_variance = first_var;
                        best = None;
                    }
                }
            }
            match best {
                Some((i, _)) => {
                    let tr = &mut self.tracks[i];
                    let gain = tr.variance / (tr.variance + meas_var);
                    let o = &mut tr.obstacle;
                    o.position_m += (det.position_m - o.position_m) * gain;
                    tr.variance *= 1.0 - gain;
                    if !det.partial {
                        let rgain = tr.radius_variance / (tr.radius_variance + meas_var);
                        o.radius_m += (det.radius_m - o.radius_m) * rgain;
                        tr.radius_variance *= 1.0 - rgain;
                    } else if det.radius_m > o.radius_m {
                        // A lower bound above the estimate: the object is
                        // at least this large, and the estimate was not
                        // as sure as it thought.
                        o.radius_m = det.radius_m;
                        tr.radius_variance = tr.radius_variance.max(meas_var);
                    }
                    o.shape = match (o.shape, det.shape) {
                        (
                            ObstacleShape::Cylinder { top_m: a },
                            ObstacleShape::Cylinder { top_m: b },
                        ) => ObstacleShape::Cylinder { top_m: a.max(b) },
                        (_, s) if o.hits < 3 => s,
                        (s, _) => s,
                    };
                    // Several pieces of one object in a frame count once.
                    if !tr.matched {
                        o.hits += 1;
                    }
                    o.last_seen_secs = t_secs;
                    tr.misses = 0;
                    tr.matched = true;
                    tr.frame_hit = tr.frame_hit.or(Some(det));
                    if o.hits >= self.config.confirm_hits {
                        tr.confirmed = true;
                    }
                }
                // A lower bound starts nothing: wait for a better view.
                None if det.partial => {}
                None => {
                    if self.tracks.len() < self.tracks.capacity() {
                        let id = self.next_id;
                        self.next_id += 1;
                        self.tracks.push(Track {
                            obstacle: Obstacle {
                                id,
                                shape: det.shape,
                                position_m: det.position_m,
                                radius_m: det.radius_m,
                                position_std_m: meas_var.sqrt(),
                                radius_std_m: meas_var.sqrt(),
                                hits: 1,
                                last_seen_secs: t_secs,
                            },
                            variance: meas_var,
                            radius_variance: meas_var,
                            first_seen_secs: t_secs,
                            misses: 0,
                            confirmed: self.config.confirm_hits <= 1,
                            matched: true,
                            frame_hit: Some(det),
                        });
                    }
                }
            }
        }
    }

    /// A confirmed track in view that the image sees through is a miss.
    pub(super) fn check_free_space(
        &mut self,
        image: &DepthImage,
        k: &CameraIntrinsics,
        world_from_camera: &Isometry3<f64>,
    ) {
        let camera_from_world = world_from_camera.inverse();
        let eye_z = world_from_camera.translation.vector.z;
        for tr in &mut self.tracks {
            if tr.matched || !tr.confirmed {
                continue;
            }
            let o = &tr.obstacle;
            let z = match o.shape {
                ObstacleShape::Cylinder { top_m } => {
                    eye_z.clamp(self.config.ground_height_m, top_m)
                }
                ObstacleShape::Sphere => o.position_m.z,
            };
            let c = camera_from_world * Point3::new(o.position_m.x, o.position_m.y, z);
            let expected = c.z - o.radius_m;
            if expected <= 0.3 || expected > 0.8 * self.config.max_range_m {
                continue;
            }
            let Some(px) = k.project(&c.coords) else {
                continue;
            };
            if px.x < 0.0 || px.y < 0.0 {
                continue;
            }
            let Some(seen) = image.get(px.x as u32, px.y as u32) else {
                continue;
            };
            let seen = seen as f64;
            if !seen.is_finite() || seen > expected + o.radius_m + 0.5 {
                tr.misses += 1;
            }
        }
    }

    /// Merges tracks that describe one object (seen in pieces, or by two
    /// sensors before their estimates met).
    fn merge(&mut self) {
        let mut i = 0;
        while i < self.tracks.len() {
            let mut j = i + 1;
            while j < self.tracks.len() {
                let (a, b) = (&self.tracks[i], &self.tracks[j]);
                let g = gap(&a.obstacle, &b.obstacle.position_m, b.obstacle.shape);
                let limit = (0.5 * self.config.association_gate_m
                    + 0.5 * a.obstacle.radius_m.min(b.obstacle.radius_m))
                .min(a.obstacle.radius_m.max(b.obstacle.radius_m) + DISJOINT_TOLERANCE_M);
                if g < limit {
                    let b = self.tracks.swap_remove(j);
                    let a = &mut self.tracks[i];
                    let w = b.variance / (a.variance + b.variance);
                    let o = &mut a.obstacle;
                    o.position_m += (b.obstacle.position_m - o.position_m) * (1.0 - w);
                    let rw = b.radius_variance / (a.radius_variance + b.radius_variance);
                    o.radius_m += (b.obstacle.radius_m - o.radius_m) * (1.0 - rw);
                    a.radius_variance *= rw;
                    o.hits = o.hits.max(b.obstacle.hits);
                    o.id = o.id.min(b.obstacle.id);
                    o.last_seen_secs = o.last_seen_secs.max(b.obstacle.last_seen_secs);
                    if let (
                        ObstacleShape::Cylinder { top_m: ta },
                        ObstacleShape::Cylinder { top_m: tb },
                    ) = (o.shape, b.obstacle.shape)
                    {
                        o.shape = ObstacleShape::Cylinder { top_m: ta.max(tb) };
                    }
                    a.variance *= w;
                    a.confirmed |= b.confirmed;
                    a.misses = a.misses.min(b.misses);
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
    }

    pub(super) fn maintain(&mut self, t_secs: f64) {
        self.merge();
        let c = &self.config;
        self.tracks.retain(|tr| {
            if tr.confirmed {
                tr.misses < c.expiry_misses
            } else {
                t_secs - tr.first_seen_secs <= c.tentative_timeout_secs
            }
        });
        self.confirmed.clear();
        for tr in &mut self.tracks {
            tr.obstacle.position_std_m = tr.variance.sqrt();
            tr.obstacle.radius_std_m = tr.radius_variance.sqrt();
            if tr.confirmed {
                self.confirmed.push(tr.obstacle);
            }
        }
    }
}

/// Largest centre distance at which a detection is the track's object:
/// the association gate, but never beyond the larger circle (plus
/// [`DISJOINT_TOLERANCE_M`]): a neighbour a few centimetres away is
/// another object, and fitted radii run a few centimetres large.
fn same_object_gate(config: &ObstacleConfig, track_radius: f64, detection_radius: f64) -> f64 {
    let gate = config.association_gate_m + 0.5 * track_radius.min(detection_radius);
    gate.min(track_radius.max(detection_radius) + DISJOINT_TOLERANCE_M)
}

/// How far outside each other's circle two fits of one object may be, m.
const DISJOINT_TOLERANCE_M: f64 = 0.1;

/// Distance between an obstacle's centre and a point, horizontal unless
/// both are spheres.
fn gap(o: &Obstacle, p: &Vector3<f64>, shape: ObstacleShape) -> f64 {
    match (o.shape, shape) {
        (ObstacleShape::Sphere, ObstacleShape::Sphere) => (o.position_m - p).norm(),
        _ => (o.position_m.xy() - p.xy()).norm(),
    }
}

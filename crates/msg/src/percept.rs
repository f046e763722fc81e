//! What perception sees, as plain data: obstacles, hot targets, and the
//! fixed-capacity [`WorldModel`] that carries them from the estimator to
//! the controller without a heap allocation.

use nalgebra::Vector3;
use serde::Serialize;

/// How a perceived obstacle is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObstacleShape {
    /// A vertical cylinder from the ground up to `top_m` (a circle in the
    /// plane for a ground robot): distance is measured horizontally.
    Cylinder { top_m: f64 },
    /// A ball: distance is measured in 3D.
    Sphere,
}

/// A tracked obstacle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Obstacle {
    pub id: u32,
    pub shape: ObstacleShape,
    /// Centre (the axis at mid-height for a cylinder), world frame, m.
    pub position_m: Vector3<f64>,
    pub radius_m: f64,
    /// Standard deviation of each horizontal coordinate of the centre, m.
    pub position_std_m: f64,
    pub radius_std_m: f64,
    pub hits: u32,
    /// Last time a detection was associated, s.
    pub last_seen_secs: f64,
}

impl Obstacle {
    /// Distance from `p` to the obstacle's surface (negative inside), m.
    pub fn surface_distance(&self, p: &Vector3<f64>) -> f64 {
        self.centre_distance(p) - self.radius_m
    }

    /// Distance from `p` to the centre (the axis for a cylinder), m.
    pub fn centre_distance(&self, p: &Vector3<f64>) -> f64 {
        match self.shape {
            ObstacleShape::Cylinder { .. } => {
                ((p.x - self.position_m.x).powi(2) + (p.y - self.position_m.y).powi(2)).sqrt()
            }
            ObstacleShape::Sphere => (p - self.position_m).norm(),
        }
    }
}

impl Default for Obstacle {
    fn default() -> Self {
        Self {
            id: 0,
            shape: ObstacleShape::Sphere,
            position_m: Vector3::zeros(),
            radius_m: 0.0,
            position_std_m: 0.0,
            radius_std_m: 0.0,
            hits: 0,
            last_seen_secs: 0.0,
        }
    }
}

/// A tracked hot object.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Target {
    pub id: u32,
    /// The hot surface's centre, world frame, m.
    pub position_m: Vector3<f64>,
    pub position_std_m: f64,
    /// Temperature of the hot surface, K.
    pub temperature_k: f64,
    pub hits: u32,
    pub last_seen_secs: f64,
}

/// Obstacles a [`WorldModel`] holds at most (perception's default
/// `max_tracks`).
pub const MAX_OBSTACLES: usize = 64;
/// Targets a [`WorldModel`] holds at most (perception's default
/// `max_targets`).
pub const MAX_TARGETS: usize = 16;

/// The confirmed obstacles and targets at one instant, inline: it is
/// copied whole through the loop's lock-free estimate slot, so it owns no
/// heap memory (about 7 KB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldModel {
    obstacles: [Obstacle; MAX_OBSTACLES],
    obstacle_count: usize,
    targets: [Target; MAX_TARGETS],
    target_count: usize,
}

impl Default for WorldModel {
    fn default() -> Self {
        Self {
            obstacles: [Obstacle::default(); MAX_OBSTACLES],
            obstacle_count: 0,
            targets: [Target::default(); MAX_TARGETS],
            target_count: 0,
        }
    }
}

impl WorldModel {
    pub fn obstacles(&self) -> &[Obstacle] {
        &self.obstacles[..self.obstacle_count]
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets[..self.target_count]
    }

    /// The hottest target (the last of equally hot ones).
    pub fn hottest_target(&self) -> Option<&Target> {
        self.targets()
            .iter()
            .max_by(|a, b| a.temperature_k.total_cmp(&b.temperature_k))
    }

    /// Replaces the obstacles with the first [`MAX_OBSTACLES`] of
    /// `obstacles`; returns how many did not fit.
    pub fn set_obstacles(&mut self, obstacles: &[Obstacle]) -> usize {
        self.obstacle_count = obstacles.len().min(MAX_OBSTACLES);
        self.obstacles[..self.obstacle_count].copy_from_slice(&obstacles[..self.obstacle_count]);
        obstacles.len() - self.obstacle_count
    }

    /// Replaces the targets with the first [`MAX_TARGETS`] of `targets`;
    /// returns how many did not fit.
    pub fn set_targets(&mut self, targets: &[Target]) -> usize {
        self.target_count = targets.len().min(MAX_TARGETS);
        self.targets[..self.target_count].copy_from_slice(&targets[..self.target_count]);
        targets.len() - self.target_count
    }

    /// Nothing seen.
    pub fn clear(&mut self) {
        self.obstacle_count = 0;
        self.target_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_up_to_its_capacity_and_finds_the_hottest() {
        let mut w = WorldModel::default();
        let many = [Obstacle::default(); MAX_OBSTACLES + 3];
        assert_eq!(w.set_obstacles(&many), 3);
        assert_eq!(w.obstacles().len(), MAX_OBSTACLES);
        let t = |id, temperature_k| Target {
            id,
            temperature_k,
            ..Target::default()
        };
        assert_eq!(w.set_targets(&[t(1, 300.0), t(2, 350.0), t(3, 320.0)]), 0);
        assert_eq!(w.hottest_target().map(|t| t.id), Some(2));
        w.clear();
        assert!(w.obstacles().is_empty() && w.hottest_target().is_none());
    }

    #[test]
    fn a_cylinder_is_measured_horizontally() {
        let o = Obstacle {
            shape: ObstacleShape::Cylinder { top_m: 2.0 },
            position_m: Vector3::new(1.0, 0.0, 1.0),
            radius_m: 0.5,
            ..Obstacle::default()
        };
        assert_eq!(o.surface_distance(&Vector3::new(3.0, 0.0, 7.0)), 1.5);
    }
}

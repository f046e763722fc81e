use nalgebra::Vector3;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// What the disturbances impose at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Environment {
    /// External force on the robot, world frame, N.
    pub force_world_n: Vector3<f64>,
    /// Air velocity, world frame, m/s (only the quadrotor feels it).
    pub wind_world_mps: Vector3<f64>,
}

/// One scripted disturbance.
#[derive(Debug, Clone, PartialEq)]
pub enum Disturbance {
    /// A constant force over `[start_secs, start_secs + duration_secs)`.
    Push {
        start_secs: f64,
        duration_secs: f64,
        force_n: Vector3<f64>,
    },
    /// Wind over `[start_secs, start_secs + duration_secs)`: a mean plus an
    /// Ornstein-Uhlenbeck gust per axis with standard deviation `std_mps`
    /// and correlation time `correlation_time_secs`.
    Gust {
        start_secs: f64,
        duration_secs: f64,
        mean_wind_mps: Vector3<f64>,
        std_mps: f64,
        correlation_time_secs: f64,
    },
}

/// The disturbances of a run, each with its own random stream.
#[derive(Debug, Clone)]
pub struct Disturbances {
    items: Vec<(Disturbance, ChaCha8Rng, Vector3<f64>)>,
}

impl Disturbances {
    /// Disturbance `i` draws from the stream named `disturbance/{i}`.
    pub fn new(list: Vec<Disturbance>, seed: u64) -> Self {
        let items = list
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    d,
                    crate::rng::stream(seed, &format!("disturbance/{i}"), 0),
                    Vector3::zeros(),
                )
            })
            .collect();
        Self { items }
    }

    pub fn none() -> Self {
        Self { items: Vec::new() }
    }

    /// Advances the random gusts by `h_secs` to `t_secs` and returns the
    /// environment there.
    pub fn advance(&mut self, t_secs: f64, h_secs: f64) -> Environment {
        let mut env = Environment::default();
        for (d, rng, gust) in &mut self.items {
            match d {
                Disturbance::Push {
                    start_secs,
                    duration_secs,
                    force_n,
                } => {
                    if t_secs >= *start_secs && t_secs < *start_secs + *duration_secs {
                        env.force_world_n += *force_n;
                    }
                }
                Disturbance::Gust {
                    start_secs,
                    duration_secs,
                    mean_wind_mps,
                    std_mps,
                    correlation_time_secs,
                } => {
                    // Draw every step, active or not, so the stream's use
                    // does not depend on the schedule.
                    let n = Vector3::from_fn(|_, _| rng.sample::<f64, _>(StandardNormal));
                    let tau = *correlation_time_secs;
                    let decay = (-h_secs / tau).exp();
                    *gust = *gust * decay + n * (*std_mps * (1.0 - decay * decay).sqrt());
                    if t_secs >= *start_secs && t_secs < *start_secs + *duration_secs {
                        env.wind_world_mps += *mean_wind_mps + *gust;
                    }
                }
            }
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_is_active_only_in_its_window_and_gusts_repeat_by_seed() {
        let push = Disturbance::Push {
            start_secs: 1.0,
            duration_secs: 0.5,
            force_n: Vector3::new(2.0, 0.0, 0.0),
        };
        let mut d = Disturbances::new(vec![push], 0);
        assert_eq!(d.advance(0.9, 0.001).force_world_n.x, 0.0);
        assert_eq!(d.advance(1.2, 0.001).force_world_n.x, 2.0);
        assert_eq!(d.advance(1.5, 0.001).force_world_n.x, 0.0);
        let gust = Disturbance::Gust {
            start_secs: 0.0,
            duration_secs: 10.0,
            mean_wind_mps: Vector3::new(1.0, 0.0, 0.0),
            std_mps: 0.5,
            correlation_time_secs: 0.2,
        };
        let run = |seed| {
            let mut d = Disturbances::new(vec![gust.clone()], seed);
            (0..100)
                .map(|k| d.advance(k as f64 * 1e-3, 1e-3).wind_world_mps)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}

//! The simulator the loop drives: a true plant, a world and sensors,
//! advanced in fixed integration steps; readings queue until they are
//! available and come out in order of availability.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;

use nalgebra::{Isometry3, Point3};
use recede_msg::{CameraIntrinsics, Reading, SensorId, SensorInfo};

use crate::config::{validate_sensors, PlantConfig, SensorConfig, WorldConfig};
use crate::plant::{BodyState, Plant};
use crate::sensors::{BodyShape, RenderCache, SampleContext, Sensor, SensorCounts};
use crate::world::World;
use crate::SimError;

/// A reading waiting for its availability time; ordered so the heap pops
/// the earliest available first, ties in the order they were taken.
#[derive(Debug)]
struct Pending {
    seq: u64,
    available_secs: f64,
    /// `None`: rendered by a job; its result lands in `Simulator::ready`.
    reading: Option<Reading>,
}

/// A camera sensor lent to a render job: (sensor index, sequence number, sensor).
type Lent = (usize, u64, Sensor);

/// Camera sensors lent to a worker thread for one sampling instant.
#[derive(Debug)]
struct RenderJob {
    group: usize,
    handle: JoinHandle<RenderOut>,
}

#[derive(Debug)]
struct RenderOut {
    group: usize,
    cache: RenderCache,
    /// (sensor index, sequence number, reading or dropout).
    sampled: Vec<(usize, u64, Sensor, Option<Reading>)>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        other
            .available_secs
            .total_cmp(&self.available_secs)
            .then(other.seq.cmp(&self.seq))
    }
}

/// The simulator. Camera images can be rendered on worker threads
/// ([`Simulator::set_render_workers`]): a camera's sample is taken on a
/// snapshot of the world at its instant, by the sensor's own random
/// streams, so the readings are the same bit for bit whatever the number
/// of workers; the simulator waits for a job only when one of its readings
/// becomes available or its sensor falls due again.
#[derive(Debug)]
pub struct Simulator {
    plant: Box<dyn Plant>,
    world: World,
    /// `None` while lent to a render job.
    sensors: Vec<Option<Sensor>>,
    infos: Vec<SensorInfo>,
    counts: Vec<SensorCounts>,
    /// Next due time of each sensor (kept here while it is lent).
    next_due: Vec<f64>,
    /// Camera group per sensor (cameras with the same intrinsics and mount
    /// share one cast); `None` for other sensors.
    group: Vec<Option<usize>>,
    /// One cache per camera group, `None` while lent; index 0 also serves
    /// inline sampling.
    caches: Vec<Option<RenderCache>>,
    render_workers: usize,
    jobs: VecDeque<RenderJob>,
    ready: HashMap<u64, Option<Reading>>,
    pending: BinaryHeap<Pending>,
    seq: u64,
    step_index: u64,
    command: Vec<f64>,
    cache: RenderCache,
}

impl Simulator {
    /// A simulator at t = 0 with `plant` in its current state. Sensor `i`
    /// gets `SensorId(i)`; their random streams derive from `seed` and their
    /// names. Samples due at t = 0 are taken now.
    pub fn new(
        plant: Box<dyn Plant>,
        world: World,
        sensors: &[SensorConfig],
        seed: u64,
    ) -> Result<Self, SimError> {
        validate_sensors(sensors)?;
        let sensors: Vec<Sensor> = sensors
            .iter()
            .enumerate()
            .map(|(i, c)| Sensor::new(SensorId(i as u32), c, seed))
            .collect();
        let infos: Vec<SensorInfo> = sensors.iter().map(|s| s.info.clone()).collect();
        let mut keys: Vec<(CameraIntrinsics, Isometry3<f64>, bool)> = Vec::new();
        let group = sensors
            .iter()
            .map(|s| {
                let k = s.info.intrinsics.filter(|_| s.is_camera())?;
                let key = (k, s.info.body_from_sensor, s.info.world_fixed);
                Some(match keys.iter().position(|g| *g == key) {
                    Some(g) => g,
                    None => {
                        keys.push(key);
                        keys.len() - 1
                    }
                })
            })
            .collect();
        let command = plant.applied_input().to_vec();
        let mut sim = Self {
            plant,
            world,
            infos,
            counts: vec![SensorCounts::default(); sensors.len()],
            next_due: sensors.iter().map(Sensor::next_due_secs).collect(),
            group,
            caches: (0..keys.len())
                .map(|_| Some(RenderCache::default()))
                .collect(),
            sensors: sensors.into_iter().map(Some).collect(),
            render_workers: 0,
            jobs: VecDeque::new(),
            ready: HashMap::new(),
            pending: BinaryHeap::new(),
            seq: 0,
            step_index: 0,
            command,
            cache: RenderCache::default(),
        };
        sim.world.set_time(0.0);
        sim.sample_due();
        Ok(sim)
    }

    /// Builds plant, world and sensors from their config sections.
    pub fn from_config(
        plant: &PlantConfig,
        world: &WorldConfig,
        sensors: &[SensorConfig],
        seed: u64,
    ) -> Result<Self, SimError> {
        validate_sensors(sensors)?;
        let world = world.build()?;
        Self::new(plant.build(seed)?, world, sensors, seed)
    }

    /// Simulated time, s: a whole number of integration steps.
    pub fn time_secs(&self) -> f64 {
        self.step_index as f64 * self.plant.step_secs()
    }

    /// Holds `command` for `dt_secs` (rounded to whole integration steps).
    pub fn advance(&mut self, dt_secs: f64, command: &[f64]) -> Result<(), SimError> {
        if !(dt_secs.is_finite() && dt_secs >= 0.0) {
            return Err(SimError::BadTimeStep(dt_secs));
        }
        self.step_to(self.time_secs() + dt_secs, command)
    }

    /// Holds `command` until `t_secs` (rounded to the nearest integration
    /// step), sampling every sensor that falls due on the way.
    pub fn step_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), SimError> {
        let h = self.plant.step_secs();
        if !t_secs.is_finite() {
            return Err(SimError::BadTimeStep(t_secs));
        }
        if t_secs < self.time_secs() - 0.5 * h {
            return Err(SimError::TimeReversal {
                now_secs: self.time_secs(),
                target_secs: t_secs,
            });
        }
        if command.len() != self.plant.input_len() {
            return Err(SimError::CommandLength {
                expected: self.plant.input_len(),
                got: command.len(),
            });
        }
        if let Some((index, &value)) = command.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(SimError::NonFiniteCommand { index, value });
        }
        self.command.clear();
        self.command.extend_from_slice(command);
        let target = (t_secs / h).round() as u64;
        while self.step_index < target {
            self.plant.step(self.time_secs(), command)?;
            self.step_index += 1;
            self.sample_due();
        }
        // Scripted objects move with the clock; placing them costs a
        // hierarchy rebuild, so only where someone looks.
        if self.world.time_secs() != self.time_secs() {
            self.world.set_time(self.time_secs());
        }
        Ok(())
    }

    /// Renders camera images on up to `workers` threads besides the
    /// caller's (0: on the caller's thread, as it samples). Readings do not
    /// depend on it.
    pub fn set_render_workers(&mut self, workers: usize) {
        if workers == 0 {
            self.finish_renders();
        }
        self.render_workers = workers;
    }

    /// Waits for every outstanding render job.
    pub fn finish_renders(&mut self) {
        while !self.jobs.is_empty() {
            self.join_oldest();
        }
    }

    fn join_oldest(&mut self) {
        let Some(job) = self.jobs.pop_front() else {
            return;
        };
        let out = match job.handle.join() {
            Ok(out) => out,
            // A render job cannot fail short of a bug; carry the panic on.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        debug_assert_eq!(out.group, job.group);
        self.caches[out.group] = Some(out.cache);
        for (i, seq, sensor, reading) in out.sampled {
            self.counts[i] = sensor.counts();
            self.sensors[i] = Some(sensor);
            self.ready.insert(seq, reading);
        }
    }

    /// Joins the jobs up to the one holding sensor `i`.
    fn reclaim(&mut self, i: usize) {
        while self.sensors[i].is_none() && !self.jobs.is_empty() {
            self.join_oldest();
        }
    }

    fn sample_due(&mut self) {
        let t = self.time_secs();
        let tol = 0.5 * self.plant.step_secs();
        if !self.next_due.iter().any(|d| *d <= t + tol) {
            return;
        }
        self.world.set_time(t);
        let body = self.plant.body();
        let due: Vec<usize> = (0..self.next_due.len())
            .filter(|&i| self.next_due[i] <= t + tol)
            .collect();
        for &i in &due {
            self.reclaim(i);
        }
        // Cameras go to render jobs, one per group, in order of first sensor.
        let mut lent: Vec<(usize, Vec<Lent>)> = Vec::new();
        for &i in &due {
            let seq = self.seq;
            self.seq += 1;
            let Some(sensor) = self.sensors[i].as_ref() else {
                continue;
            };
            self.next_due[i] = sensor.next_due_after(t);
            let available_secs = t + sensor.info.latency_secs;
            match self.group[i].filter(|_| self.render_workers > 0) {
                Some(g) => {
                    let Some(sensor) = self.sensors[i].take() else {
                        continue;
                    };
                    self.pending.push(Pending {
                        seq,
                        available_secs,
                        reading: None,
                    });
                    match lent.iter_mut().find(|(group, _)| *group == g) {
                        Some((_, v)) => v.push((i, seq, sensor)),
                        None => lent.push((g, vec![(i, seq, sensor)])),
                    }
                }
                None => {
                    let ctx = SampleContext {
                        t_secs: t,
                        body: &body,
                        encoder_angles_rad: self.plant.encoder_angles_rad(),
                        world: &self.world,
                        shape: BodyShape {
                            points: self.plant.shape_points(),
                            radius_m: self.plant.shape_radius_m(),
                        },
                    };
                    let Some(sensor) = self.sensors[i].as_mut() else {
                        continue;
                    };
                    let reading = sensor.sample(&ctx, &mut self.cache);
                    self.counts[i] = sensor.counts();
                    if let Some(reading) = reading {
                        self.pending.push(Pending {
                            seq,
                            available_secs: reading.stamp.available_secs,
                            reading: Some(reading),
                        });
                    }
                }
            }
        }
        if lent.is_empty() {
            return;
        }
        let world = Arc::new(self.world.clone());
        // The body's points as they are now: the plant moves on meanwhile.
        let shape: Arc<[[f64; 3]]> = Arc::from(self.plant.shape_points());
        let radius_m = self.plant.shape_radius_m();
        for (g, sensors) in lent {
            while self.jobs.len() >= self.render_workers {
                self.join_oldest();
            }
            // The group's cache is home: its job (if any) was joined above.
            let mut cache = self.caches[g].take().unwrap_or_default();
            let world = Arc::clone(&world);
            let shape = Arc::clone(&shape);
            let spawned = std::thread::Builder::new()
                .name("recede-render".into())
                .spawn(move || {
                    let ctx = SampleContext {
                        t_secs: t,
                        body: &body,
                        encoder_angles_rad: &[],
                        world: &world,
                        shape: BodyShape {
                            points: &shape,
                            radius_m,
                        },
                    };
                    let sampled = sensors
                        .into_iter()
                        .map(|(i, seq, mut sensor)| {
                            let reading = sensor.sample(&ctx, &mut cache);
                            (i, seq, sensor, reading)
                        })
                        .collect();
                    RenderOut {
                        group: g,
                        cache,
                        sampled,
                    }
                });
            // Out of threads: std's spawn would panic; this is no better.
            let handle = match spawned {
                Ok(handle) => handle,
                Err(e) => panic!("cannot start a render thread: {e}"),
            };
            self.jobs.push_back(RenderJob { group: g, handle });
        }
    }

    /// Every reading available by `now_secs` not yet delivered, in order of
    /// availability (ties in the order taken).
    pub fn poll(&mut self, now_secs: f64) -> Vec<Reading> {
        let mut out = Vec::new();
        self.poll_into(now_secs, &mut out);
        out
    }

    /// As [`Self::poll`], appending to `out`.
    pub fn poll_into(&mut self, now_secs: f64, out: &mut Vec<Reading>) {
        while let Some(p) = self.pending.peek() {
            if p.available_secs > now_secs {
                break;
            }
            let Some(p) = self.pending.pop() else { break };
            match p.reading {
                Some(reading) => out.push(reading),
                None => {
                    while !self.ready.contains_key(&p.seq) && !self.jobs.is_empty() {
                        self.join_oldest();
                    }
                    // `None` inside: lost to dropout.
                    if let Some(Some(reading)) = self.ready.remove(&p.seq) {
                        out.push(reading);
                    }
                }
            }
        }
    }

    /// Readings taken but not yet available.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub fn sensors(&self) -> impl Iterator<Item = &SensorInfo> {
        self.infos.iter()
    }

    /// Per sensor (in id order): samples taken and samples lost to dropout,
    /// as of the last finished render (see [`Self::finish_renders`]).
    pub fn sensor_counts(&self) -> impl Iterator<Item = (&SensorInfo, SensorCounts)> {
        self.infos.iter().zip(self.counts.iter().copied())
    }

    pub fn sensor_by_name(&self, name: &str) -> Option<&SensorInfo> {
        self.sensors().find(|s| s.name == name)
    }

    /// The true state (for scoring; never for the controller).
    pub fn true_state(&self) -> &[f64] {
        self.plant.state()
    }

    /// The last command given.
    pub fn command(&self) -> &[f64] {
        &self.command
    }

    pub fn plant(&self) -> &dyn Plant {
        self.plant.as_ref()
    }

    /// Mutable access, e.g. to set the initial state.
    pub fn plant_mut(&mut self) -> &mut dyn Plant {
        self.plant.as_mut()
    }

    pub fn body(&self) -> BodyState {
        self.plant.body()
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// Signed distance from `p` to the nearest obstacle's surface (objects,
    /// not the ground), m.
    pub fn distance_to_nearest_obstacle(&self, p: &Point3<f64>) -> f64 {
        self.world.distance_to_nearest_obstacle(p)
    }
}

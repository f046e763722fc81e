//! The recorder: a non-blocking handle for the loop, a bounded channel, and a
//! thread that owns the rerun `RecordingStream`.

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use nalgebra::Point3;
use rerun::{RecordingStream, RecordingStreamBuilder};

use crate::blueprint::Layout;
use crate::error::VizError;
use crate::paths;
use crate::types::{
    CameraSpec, Curve, Level, Obstacle, ObstacleSource, RobotKind, RobotPose, Series, Stamp, When,
};
use crate::writer;

/// Where the recording goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// An `.rrd` file (the default: works without a display).
    File(PathBuf),
    /// Spawn a viewer (`rerun` on `PATH`) and stream to it.
    Spawn,
    /// Stream to a running viewer: `host:port` or a full
    /// `rerun+http://host:port/proxy` address.
    Connect(String),
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::File(path) => write!(f, "file {}", path.display()),
            Sink::Spawn => write!(f, "spawned viewer"),
            Sink::Connect(addr) => write!(f, "viewer at {}", viewer_url(addr)),
        }
    }
}

/// How to open a [`Recorder`].
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Where the recording goes.
    pub sink: Sink,
    /// Messages the channel from the loop to the recorder thread holds before
    /// the loop's calls start dropping. Each message is one call, most of
    /// them a few hundred bytes: the default (16384, a second and a half of
    /// the flagship at 25x real time) rides out a recorder thread kept off
    /// the CPU by a loaded machine; the images in it are bounded apart.
    pub channel_capacity: usize,
    /// Images the channel holds at most (a 160x120 f32 image is 77 kB: the
    /// default of 128 bounds them at about 10 MB); more are dropped first.
    pub image_capacity: usize,
    /// Rerun application id.
    pub application_id: &'static str,
    /// Rerun recording name (shown in the viewer), if any.
    pub recording_name: Option<String>,
    /// How long [`Recorder::finish`] waits for the recorder thread to write out
    /// what is queued and flush.
    pub shutdown_timeout: Duration,
}

impl RecorderConfig {
    /// Default channel capacity.
    pub const DEFAULT_CAPACITY: usize = 16384;
    /// Default bound on the images queued.
    pub const DEFAULT_IMAGE_CAPACITY: usize = 128;

    /// Record to an `.rrd` file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::with_sink(Sink::File(path.into()))
    }

    /// Spawn a viewer.
    pub fn spawn() -> Self {
        Self::with_sink(Sink::Spawn)
    }

    /// Connect to a running viewer at `addr` (`host:port` or `rerun+http://host:port/proxy`).
    pub fn connect(addr: impl Into<String>) -> Self {
        Self::with_sink(Sink::Connect(addr.into()))
    }

    fn with_sink(sink: Sink) -> Self {
        Self {
            sink,
            channel_capacity: Self::DEFAULT_CAPACITY,
            image_capacity: Self::DEFAULT_IMAGE_CAPACITY,
            application_id: "recede",
            recording_name: None,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of what happened to the loop's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecorderStats {
    /// Calls whose data was queued for the recorder thread.
    pub queued: u64,
    /// Calls dropped because the channel was full (or the recorder had stopped).
    pub dropped: u64,
    /// Of `dropped`, images (dropped first: at half a channel, or when
    /// [`RecorderConfig::image_capacity`] are queued).
    pub images_dropped: u64,
    /// Queued data the recorder thread refused (an image whose buffer does not
    /// match its size) or rerun failed to serialise; each also gets an ERROR event.
    pub rejected: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    queued: AtomicU64,
    dropped: AtomicU64,
    images_dropped: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// Images in the channel now (taken off by the recorder thread).
    pub(crate) images_queued: AtomicU64,
}

/// Image payloads, copied out of the caller's buffers.
#[derive(Debug)]
pub(crate) enum ImageData {
    Rgb(Vec<u8>),
    Depth(Vec<f32>),
    Infrared(Vec<f32>),
}

/// What travels from the loop to the recorder thread: plain owned data; the
/// conversion to rerun archetypes (and its serialisation) happens on the
/// recorder thread.
#[derive(Debug)]
pub(crate) enum Msg {
    Robot(RobotKind),
    Pose(Stamp, RobotPose),
    Camera(CameraSpec),
    Image {
        stamp: Stamp,
        camera: String,
        resolution_px: [u32; 2],
        data: ImageData,
    },
    Lidar(Stamp, Vec<Point3<f64>>),
    Reference(When, Vec<Point3<f64>>),
    Prediction(Stamp, Vec<Point3<f64>>),
    Targets(When, Vec<Point3<f64>>),
    Estimate(Stamp, Point3<f64>),
    Curve(Stamp, Curve, Vec<Point3<f64>>),
    /// Obstacles and their labels (empty: none).
    Obstacles(When, ObstacleSource, Vec<Obstacle>, Vec<String>),
    Blueprint(Box<Layout>),
    SeriesNames(Series, Vec<String>),
    Series(Stamp, Series, Vec<f64>),
    Event(Stamp, Level, String),
    /// Write out everything so far (the static scene, before the run).
    Flush,
    Shutdown,
}

/// The loop's side of the recorder: cheap to clone, `Send`, and every call
/// returns at once. When the recorder thread falls behind and the channel is
/// full, the call's data is dropped and counted ([`RecorderHandle::dropped`]).
#[derive(Debug, Clone)]
pub struct RecorderHandle {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
    image_capacity: u64,
}

impl RecorderHandle {
    /// Queues the message `make` builds; false (counted) when it is dropped.
    fn push(&self, make: impl FnOnce() -> Msg) -> bool {
        // Check before building the message, so that a full channel does not
        // cost a copy of an image.
        if self.tx.is_full() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(make()) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Asks the recorder thread to write everything logged so far to the
    /// sink. Call it after the static scene, so that a recording cut short
    /// by a kill still has it. Waits for room in the channel (setup only).
    pub fn flush(&self) {
        if self.tx.send(Msg::Flush).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Like `push`, for an image: it is dropped (and counted) already when
    /// the channel is half full or holds its share of images, so that under
    /// load the recorder thins the images (the bulk of its work: encoding)
    /// and keeps poses and plots.
    fn push_image(&self, make: impl FnOnce() -> Msg) {
        let room = self.tx.capacity().unwrap_or(usize::MAX);
        let images = &self.counters.images_queued;
        if self.tx.len() >= (room / 2).max(1)
            || images.load(Ordering::Relaxed) >= self.image_capacity
        {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            self.counters.images_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Counted before it is sent, so that the recorder thread's decrement
        // never comes first.
        images.fetch_add(1, Ordering::Relaxed);
        if !self.push(make) {
            images.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Calls dropped so far because the recorder could not keep up.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// All counters.
    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            queued: self.counters.queued.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            images_dropped: self.counters.images_dropped.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
        }
    }

    /// The robot's static body ([`paths::BODY`] and the per-robot geometry entities).
    pub fn declare_robot(&self, kind: RobotKind) {
        self.push(|| Msg::Robot(kind));
    }

    /// The robot's pose at `stamp` ([`paths::ROBOT`], and `POLE` / `LINK1` / `LINK2`).
    pub fn log_pose(&self, stamp: Stamp, pose: RobotPose) {
        self.push(|| Msg::Pose(stamp, pose));
    }

    /// A camera rigidly attached to the body: its static transform and pinhole
    /// at [`paths::camera`]`(name)`.
    pub fn declare_camera(&self, camera: &CameraSpec) {
        self.push(|| Msg::Camera(camera.clone()));
    }

    /// An RGB image (row-major, 3 bytes a pixel) from camera `camera`.
    pub fn log_rgb(&self, stamp: Stamp, camera: &str, resolution_px: [u32; 2], rgb: &[u8]) {
        self.push_image(|| Msg::Image {
            stamp,
            camera: camera.to_owned(),
            resolution_px,
            data: ImageData::Rgb(rgb.to_vec()),
        });
    }

    /// A depth image in metres (row-major f32) from camera `camera`.
    pub fn log_depth(&self, stamp: Stamp, camera: &str, resolution_px: [u32; 2], depth_m: &[f32]) {
        self.push_image(|| Msg::Image {
            stamp,
            camera: camera.to_owned(),
            resolution_px,
            data: ImageData::Depth(depth_m.to_vec()),
        });
    }

    /// An infrared image in kelvin (row-major f32) from camera `camera`.
    pub fn log_infrared(
        &self,
        stamp: Stamp,
        camera: &str,
        resolution_px: [u32; 2],
        temperature_k: &[f32],
    ) {
        self.push_image(|| Msg::Image {
            stamp,
            camera: camera.to_owned(),
            resolution_px,
            data: ImageData::Infrared(temperature_k.to_vec()),
        });
    }

    /// Lidar points in the body frame ([`paths::LIDAR`]).
    pub fn log_lidar(&self, stamp: Stamp, points_body: &[Point3<f64>]) {
        self.push(|| Msg::Lidar(stamp, points_body.to_vec()));
    }

    /// The reference path ([`paths::REFERENCE`]); usually `When::Static`.
    pub fn log_reference(&self, when: impl Into<When>, path: &[Point3<f64>]) {
        let when = when.into();
        self.push(|| Msg::Reference(when, path.to_vec()));
    }

    /// The MPC's predicted positions over the horizon ([`paths::PREDICTION`]).
    pub fn log_prediction(&self, stamp: Stamp, positions: &[Point3<f64>]) {
        self.push(|| Msg::Prediction(stamp, positions.to_vec()));
    }

    /// Targets ([`paths::TARGETS`]).
    pub fn log_targets(&self, when: impl Into<When>, targets: &[Point3<f64>]) {
        let when = when.into();
        self.push(|| Msg::Targets(when, targets.to_vec()));
    }

    /// Obstacles, true or perceived ([`paths::OBSTACLES_TRUE`],
    /// [`paths::OBSTACLES_PERCEIVED`]), unlabelled. Each call replaces the
    /// previous set of that source (an empty slice clears it).
    pub fn log_obstacles(
        &self,
        when: impl Into<When>,
        source: ObstacleSource,
        obstacles: &[Obstacle],
    ) {
        self.log_labelled_obstacles(when, source, obstacles, &[]);
    }

    /// Obstacles with a label each (their names in the scenario), drawn at
    /// their centres; `labels` is either empty or as long as `obstacles`.
    pub fn log_labelled_obstacles(
        &self,
        when: impl Into<When>,
        source: ObstacleSource,
        obstacles: &[Obstacle],
        labels: &[&str],
    ) {
        let when = when.into();
        self.push(|| {
            Msg::Obstacles(
                when,
                source,
                obstacles.to_vec(),
                labels.iter().map(|l| (*l).to_owned()).collect(),
            )
        });
    }

    /// The estimated position (or tip) at `stamp` ([`paths::ESTIMATE`]).
    pub fn log_estimate(&self, stamp: Stamp, position: Point3<f64>) {
        self.push(|| Msg::Estimate(stamp, position));
    }

    /// One of a continuum arm's curves at `stamp` ([`Curve::path`]); each
    /// call replaces the last.
    pub fn log_curve(&self, stamp: Stamp, curve: Curve, points: &[Point3<f64>]) {
        self.push(|| Msg::Curve(stamp, curve, points.to_vec()));
    }

    /// The recording's default layout (sent as a blueprint, activated). It
    /// closes the static scene: everything logged before it is written out
    /// before anything logged after it, so send it last, before the run.
    pub fn send_blueprint(&self, layout: &Layout) {
        self.push(|| Msg::Blueprint(Box::new(layout.clone())));
    }

    /// Names of the components of a series group (static `SeriesLines`).
    pub fn declare_series(&self, series: Series, names: &[&str]) {
        self.push(|| {
            Msg::SeriesNames(
                series,
                names.iter().map(|name| (*name).to_owned()).collect(),
            )
        });
    }

    /// Values of a series group at `stamp` (one scalar per component).
    pub fn log_series(&self, stamp: Stamp, series: Series, values: &[f64]) {
        self.push(|| Msg::Series(stamp, series, values.to_vec()));
    }

    /// An event in the text log ([`paths::EVENTS`]).
    pub fn log_event(&self, stamp: Stamp, level: Level, text: impl Into<String>) {
        self.push(|| Msg::Event(stamp, level, text.into()));
    }
}

#[derive(Debug)]
struct Worker {
    join: JoinHandle<Result<(), VizError>>,
    done: Receiver<()>,
}

/// Owns the recorder thread. Log through it directly (it dereferences to a
/// [`RecorderHandle`]) or through clones of [`Recorder::handle`] in other
/// tasks. [`Recorder::finish`] (or dropping it) writes out what is queued and
/// flushes, so the `.rrd` is complete and readable; on Ctrl-C, stop the loop
/// and finish the recorder the same way.
#[derive(Debug)]
pub struct Recorder {
    handle: RecorderHandle,
    worker: Option<Worker>,
    sink: Sink,
    shutdown_timeout: Duration,
}

impl std::ops::Deref for Recorder {
    type Target = RecorderHandle;
    fn deref(&self) -> &RecorderHandle {
        &self.handle
    }
}

impl Recorder {
    /// Records to an `.rrd` file; see [`Recorder::new`].
    pub fn to_file(path: impl Into<PathBuf>) -> Result<Self, VizError> {
        Self::new(RecorderConfig::file(path))
    }

    /// Spawns a viewer and streams to it.
    pub fn spawn() -> Result<Self, VizError> {
        Self::new(RecorderConfig::spawn())
    }

    /// Streams to a running viewer at `addr`.
    pub fn connect(addr: impl Into<String>) -> Result<Self, VizError> {
        Self::new(RecorderConfig::connect(addr))
    }

    /// Opens the recording now, so that a path that cannot be written (or a
    /// viewer that cannot be spawned) is an error before the run starts, and
    /// starts the recorder thread.
    pub fn new(config: RecorderConfig) -> Result<Self, VizError> {
        if config.channel_capacity == 0 {
            return Err(VizError::ZeroCapacity);
        }
        if let Sink::File(path) = &config.sink {
            check_writable(path)?;
        }
        let mut builder = RecordingStreamBuilder::new(config.application_id);
        if let Some(name) = &config.recording_name {
            builder = builder.recording_name(name.clone());
        }
        let opened = match &config.sink {
            Sink::File(path) => builder.save(path),
            Sink::Spawn => builder.spawn(),
            Sink::Connect(addr) => builder.connect_grpc_opts(viewer_url(addr)),
        };
        let rec = opened.map_err(|source| VizError::Open {
            sink: config.sink.to_string(),
            source,
        })?;
        rec.log_static(paths::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())
            .map_err(|source| VizError::Open {
                sink: config.sink.to_string(),
                source,
            })?;

        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let sink_name = config.sink.to_string();
        let join = std::thread::Builder::new()
            .name("recede-recorder".to_owned())
            .spawn(move || {
                let result = run(rec, rx, &thread_counters, &sink_name);
                // The receiver may be gone if `finish` timed out.
                let _ = done_tx.send(());
                result
            })
            .map_err(VizError::SpawnThread)?;
        Ok(Self {
            handle: RecorderHandle {
                tx,
                counters,
                image_capacity: config.image_capacity as u64,
            },
            worker: Some(Worker { join, done }),
            sink: config.sink,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// A handle for another task; it stays valid after `finish`, its calls
    /// then count as dropped.
    pub fn handle(&self) -> RecorderHandle {
        self.handle.clone()
    }

    /// Where this recorder writes.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Writes out everything queued, flushes the sink and stops the thread.
    /// Waits at most the configured shutdown timeout.
    pub fn finish(mut self) -> Result<RecorderStats, VizError> {
        self.shutdown()?;
        Ok(self.handle.stats())
    }

    fn shutdown(&mut self) -> Result<(), VizError> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.shutdown_timeout;
        let timeout = VizError::ShutdownTimeout {
            timeout: self.shutdown_timeout,
        };
        // Not on the control path: waiting for room in the channel is fine here.
        if let Err(err) = self.handle.tx.send_deadline(Msg::Shutdown, deadline) {
            if err.is_timeout() {
                return Err(timeout);
            }
            // Disconnected: the thread has ended already; join reports how.
        }
        match worker.done.recv_deadline(deadline) {
            Ok(()) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                worker.join.join().map_err(|_| VizError::ThreadPanicked)?
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(timeout),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown() {
            // Drop cannot return the error; `finish` is the way to get it.
            eprintln!("recede-viz: closing the recording failed: {err}");
        }
    }
}

/// How often the recorder thread writes out what it has (wall time).
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait for an explicit flush (a viewer may be slow to take it).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the recorder thread sleeps on an empty queue. It polls rather
/// than blocks, so that no sender ever has to wake it: a blocked receiver
/// cost a system call per message on the sending side and a context switch
/// on the machine (most of the flagship's 143,574). At the flagship's
/// pace a nap gathers ten or so steps; the default queue holds a thousand
/// messages (a hundred steps).
const NAP: Duration = Duration::from_millis(2);

/// The recorder thread: write until told to stop (or every sender is gone),
/// then flush. Dropping the stream afterwards finishes the file (footer).
fn run(
    rec: RecordingStream,
    rx: Receiver<Msg>,
    counters: &Counters,
    sink_name: &str,
) -> Result<(), VizError> {
    let mut writer = writer::Writer::new(&rec, counters);
    let mut flushed_at = Instant::now();
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Empty) => {
                writer.hand_over_if_due();
                std::thread::sleep(NAP);
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match msg {
            Msg::Shutdown => break,
            Msg::Image { .. } => {
                counters.images_queued.fetch_sub(1, Ordering::Relaxed);
                writer.write(msg);
            }
            // A failed intermediate flush shows again in the final one.
            Msg::Flush => {
                writer.hand_over();
                let _ = rec.flush_with_timeout(FLUSH_TIMEOUT);
                flushed_at = Instant::now();
            }
            msg => writer.write(msg),
        }
        writer.hand_over_if_due();
        // A kill loses at most about this much of the recording.
        if flushed_at.elapsed() >= FLUSH_INTERVAL {
            writer.hand_over();
            let _ = rec.flush_async();
            flushed_at = Instant::now();
        }
    }
    writer.hand_over();
    drop(writer);
    let flushed = rec.flush_blocking().map_err(|source| VizError::Flush {
        sink: sink_name.to_owned(),
        source,
    });
    drop(rec);
    flushed
}

/// `host:port` becomes rerun's proxy URL; full URLs pass through.
pub(crate) fn viewer_url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("rerun+http://{addr}/proxy")
    }
}

/// Fails unless `path` can be created as a file: its directory exists and the
/// file can be opened for writing. Leaves an empty file that rerun then truncates.
fn check_writable(path: &Path) -> Result<(), VizError> {
    if path.as_os_str().is_empty() {
        return Err(VizError::EmptyPath);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(VizError::NotADirectory {
                path: path.to_owned(),
                dir: dir.to_owned(),
            })
        }
        Ok(_) => {}
        Err(_) => {
            return Err(VizError::MissingDirectory {
                path: path.to_owned(),
                dir: dir.to_owned(),
            })
        }
    }
    if path.is_dir() {
        return Err(VizError::PathIsDirectory {
            path: path.to_owned(),
        });
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map(drop)
        .map_err(|source| VizError::CreateFile {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_channel_drops_and_counts_without_blocking() {
        // A recorder thread that never drains: a channel with room for two.
        let (tx, rx) = crossbeam_channel::bounded(2);
        let handle = RecorderHandle {
            tx,
            counters: Arc::new(Counters::default()),
            image_capacity: 1,
        };
        let t = Stamp::new(0, 0.0);
        for _ in 0..5 {
            handle.log_series(t, Series::StepTimeUs, &[1.0]);
        }
        assert_eq!(handle.dropped(), 3);
        assert_eq!(handle.stats().queued, 2);
        // A recorder that has gone away: every call counts as dropped.
        drop(rx);
        handle.log_event(t, Level::Warn, "late");
        assert_eq!(handle.dropped(), 4);
    }

    #[test]
    fn images_give_way_to_small_messages_at_half_a_channel() {
        let (tx, _rx) = crossbeam_channel::bounded(4);
        let handle = RecorderHandle {
            tx,
            counters: Arc::new(Counters::default()),
            image_capacity: 8,
        };
        let t = Stamp::new(0, 0.0);
        for _ in 0..3 {
            handle.log_rgb(t, "rgb", [1, 1], &[1, 2, 3]);
        }
        // Two images fill half the channel; the third is dropped ...
        assert_eq!(
            (handle.stats().queued, handle.stats().images_dropped),
            (2, 1)
        );
        // ... while the other half still takes plots.
        handle.log_series(t, Series::StepTimeUs, &[1.0]);
        handle.log_series(t, Series::StepTimeUs, &[1.0]);
        assert_eq!(handle.stats().queued, 4);
        assert_eq!(handle.stats().dropped, 1);
    }

    #[test]
    fn queued_images_are_bounded_apart_from_the_channel() {
        let (tx, rx) = crossbeam_channel::bounded(100);
        let handle = RecorderHandle {
            tx,
            counters: Arc::new(Counters::default()),
            image_capacity: 2,
        };
        let t = Stamp::new(0, 0.0);
        for _ in 0..3 {
            handle.log_rgb(t, "rgb", [1, 1], &[1, 2, 3]);
        }
        assert_eq!(handle.stats().images_dropped, 1);
        // The recorder thread takes one off: there is room for one more.
        let _ = rx.try_recv().unwrap();
        handle
            .counters
            .images_queued
            .fetch_sub(1, Ordering::Relaxed);
        handle.log_rgb(t, "rgb", [1, 1], &[1, 2, 3]);
        handle.log_rgb(t, "rgb", [1, 1], &[1, 2, 3]);
        assert_eq!(
            (handle.stats().queued, handle.stats().images_dropped),
            (3, 2)
        );
    }

    #[test]
    fn viewer_addresses() {
        assert_eq!(
            viewer_url("127.0.0.1:9876"),
            "rerun+http://127.0.0.1:9876/proxy"
        );
        assert_eq!(
            viewer_url("rerun+http://10.0.0.2:9000/proxy"),
            "rerun+http://10.0.0.2:9000/proxy"
        );
    }
}

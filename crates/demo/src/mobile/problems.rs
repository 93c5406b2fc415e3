//! What goes wrong in Vigil Shop: five crashes, each one problem with its own stack (so one
//! group), some tied to a release or to a kind of device; and the main thread blocked,
//! Android's ANRs and iOS's hangs. Stacks are in the forms the SDKs send: a JVM
//! `printStackTrace`, `StackTraceElement`s for an ANR's main thread, and the numbered lines
//! of an Apple crash report.

use super::Session;
use super::catalog::{Platform, Screen};
use crate::Rng;
use vigil_protocol::{Anr, Crash};

/// The crashes the demo app has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CrashKind {
    /// Android 3.5.0 only: checking out an emptied cart; 3.5.1 fixes it.
    CartCheckout,
    /// Android: a product that answered 404 is bound to its screen.
    ProductNull,
    /// Android, mostly low-end phones: a product image decoded at full size.
    ImageOom,
    /// iOS since 3.5.0: a force-unwrapped payment method when buying from the cart.
    SwiftBuy,
    /// iOS, mostly iOS 16: an image cache entry freed while a cell reads it.
    ImageCache,
}

pub(super) const CRASH_KINDS: [CrashKind; 5] = [
    CrashKind::CartCheckout,
    CrashKind::ProductNull,
    CrashKind::ImageOom,
    CrashKind::SwiftBuy,
    CrashKind::ImageCache,
];

impl CrashKind {
    /// The chance that a session meets this crash.
    pub(super) fn hazard(self, s: &Session) -> f64 {
        let release = s.release;
        match (self, s.platform) {
            (CrashKind::CartCheckout, Platform::Android) if release == 1 => 0.05,
            (CrashKind::ProductNull, Platform::Android) => 0.008,
            (CrashKind::ImageOom, Platform::Android) if s.model.low_end() => 0.02,
            (CrashKind::ImageOom, Platform::Android) => 0.003,
            (CrashKind::SwiftBuy, Platform::Ios) if release >= 1 => 0.02,
            (CrashKind::ImageCache, Platform::Ios) if s.os_major == 16 => 0.02,
            (CrashKind::ImageCache, Platform::Ios) => 0.006,
            _ => 0.0,
        }
    }

    /// The screen it happens on.
    pub(super) fn screen(self) -> Screen {
        match self {
            CrashKind::CartCheckout | CrashKind::SwiftBuy => Screen::Cart,
            CrashKind::ProductNull => Screen::ProductDetail,
            CrashKind::ImageOom | CrashKind::ImageCache => Screen::ProductList,
        }
    }

    /// The crash as the SDK reports it. The app's line numbers move between releases and
    /// addresses between launches; neither changes the group.
    pub(super) fn event(self, r: &mut Rng, s: &Session) -> Crash {
        let (error_type, message) = match self {
            CrashKind::CartCheckout => (
                "java.lang.IllegalStateException",
                format!("Cart {} has no items to check out", 10_000 + r.below(90_000)),
            ),
            CrashKind::ProductNull => (
                "java.lang.NullPointerException",
                "Attempt to invoke virtual method 'java.lang.String com.vigil.shop.model.Product.getName()' on a null object reference".to_owned(),
            ),
            CrashKind::ImageOom => {
                let free = 2_000_000 + r.below(6_000_000);
                (
                    "java.lang.OutOfMemoryError",
                    format!(
                        "Failed to allocate a {} byte allocation with {free} free bytes and {}KB until OOM, target footprint 268435456, growth limit 268435456",
                        24_000_000 + r.below(16_000_000),
                        free / 1024
                    ),
                )
            }
            CrashKind::SwiftBuy => (
                "EXC_BREAKPOINT",
                "Fatal error: Unexpectedly found nil while unwrapping an Optional value".to_owned(),
            ),
            CrashKind::ImageCache => (
                "EXC_BAD_ACCESS",
                format!("KERN_INVALID_ADDRESS at 0x{:016x}", 8 * (1 + r.below(6))),
            ),
        };
        let stack = match self {
            CrashKind::CartCheckout => jvm(error_type, &message, CART_CHECKOUT, s.release),
            CrashKind::ProductNull => jvm(error_type, &message, PRODUCT_NULL, s.release),
            CrashKind::ImageOom => jvm(error_type, &message, IMAGE_OOM, s.release),
            CrashKind::SwiftBuy => apple(r, "Thread 0 Crashed:", SWIFT_BUY, s.release),
            CrashKind::ImageCache => apple(r, "Thread 0 Crashed:", IMAGE_CACHE, s.release),
        };
        Crash {
            error_type: error_type.into(),
            message: message.into(),
            stack: Some(stack.into()),
            frames: Vec::new(),
        }
    }
}

/// The main thread blocked: Android's ANRs (the SDK reports after five missed one-second
/// checks) and iOS's hangs (MetricKit, 2–8 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HangKind {
    /// Android: a Room query on the main thread when Home resumes.
    RecentlyViewedQuery,
    /// Android: the cart waits on a lock the sync worker holds.
    CartLock,
    /// iOS: product thumbnails decoded on the main thread.
    ThumbnailDecode,
    /// iOS: the card validated with a synchronous call.
    CardValidation,
}

pub(super) const HANG_KINDS: [HangKind; 4] = [
    HangKind::RecentlyViewedQuery,
    HangKind::CartLock,
    HangKind::ThumbnailDecode,
    HangKind::CardValidation,
];

impl HangKind {
    /// The chance that a session is blocked this way: about one in a hundred sessions on
    /// either platform, more on low-end phones, the iPhone 12 and iOS 16.
    pub(super) fn hazard(self, s: &Session) -> f64 {
        let slow = s.model.low_end() || s.os_major == 16 || s.model.name == "iPhone 12";
        let (share, slow_rate, rate) = match (self, s.platform) {
            (HangKind::RecentlyViewedQuery, Platform::Android) => (0.6, 0.015, 0.005),
            (HangKind::CartLock, Platform::Android) => (0.4, 0.015, 0.005),
            (HangKind::ThumbnailDecode, Platform::Ios) => (0.65, 0.022, 0.007),
            (HangKind::CardValidation, Platform::Ios) => (0.35, 0.022, 0.007),
            _ => return 0.0,
        };
        share * if slow { slow_rate } else { rate }
    }

    /// The screen it happens on.
    pub(super) fn screen(self) -> Screen {
        match self {
            HangKind::RecentlyViewedQuery => Screen::Home,
            HangKind::CartLock => Screen::Cart,
            HangKind::ThumbnailDecode => Screen::ProductList,
            HangKind::CardValidation => Screen::Checkout,
        }
    }

    /// The event, with the main thread's stack.
    pub(super) fn event(self, r: &mut Rng, s: &Session) -> Anr {
        let (duration, stack) = match self {
            HangKind::RecentlyViewedQuery => {
                (ANDROID_ANR_MS, main_thread(RECENTLY_VIEWED, s.release))
            }
            HangKind::CartLock => (ANDROID_ANR_MS, main_thread(CART_LOCK, s.release)),
            HangKind::ThumbnailDecode => (
                hang_ms(r),
                apple(r, "Thread 0:", THUMBNAIL_DECODE, s.release),
            ),
            HangKind::CardValidation => (
                hang_ms(r),
                apple(r, "Thread 0:", CARD_VALIDATION, s.release),
            ),
        };
        Anr {
            duration,
            stack: Some(stack.into()),
        }
    }
}

/// How long the Android SDK's main thread was blocked when it reports an ANR: five missed
/// one-second checks (it sends no duration; the OTLP mapping uses the same figure).
const ANDROID_ANR_MS: f64 = 5000.0;

/// An iOS hang's length: MetricKit reports from 250 ms, the app's threshold is 2 s; most
/// end within a few seconds, none here passes 8.
fn hang_ms(r: &mut Rng) -> f64 {
    (r.lognormal(3200.0, 0.4).clamp(2000.0, 8000.0) / 10.0).round() * 10.0
}

// The stacks' own frames, innermost first. JVM frames are `StackTraceElement`s; Apple
// frames are a binary, two spaces, and the symbol with its offset and source. Each thread
// ends in its platform's main loop (`JVM_MAIN`, `APPLE_MAIN`).

const CART_CHECKOUT: &str = "\
com.vigil.shop.cart.CartViewModel.checkout(CartViewModel.kt:131)
com.vigil.shop.cart.CartFragment.onCheckoutClicked(CartFragment.kt:77)
com.vigil.shop.cart.CartFragment.onViewCreated$lambda$2(CartFragment.kt:54)
android.view.View.performClick(View.java:7659)
com.google.android.material.button.MaterialButton.performClick(MaterialButton.java:1219)
android.view.View.performClickInternal(View.java:7636)
android.view.View$PerformClick.run(View.java:30156)";

const PRODUCT_NULL: &str = "\
com.vigil.shop.product.ProductDetailFragment.bindProduct(ProductDetailFragment.kt:87)
com.vigil.shop.product.ProductDetailFragment.access$bindProduct(ProductDetailFragment.kt:31)
com.vigil.shop.product.ProductDetailFragment$onViewCreated$1.invokeSuspend(ProductDetailFragment.kt:62)
kotlin.coroutines.jvm.internal.BaseContinuationImpl.resumeWith(ContinuationImpl.kt:33)
kotlinx.coroutines.DispatchedTask.run(DispatchedTask.kt:108)";

const IMAGE_OOM: &str = "\
android.graphics.BitmapFactory.nativeDecodeStream(Native Method)
android.graphics.BitmapFactory.decodeStreamInternal(BitmapFactory.java:790)
android.graphics.BitmapFactory.decodeStream(BitmapFactory.java:765)
com.vigil.shop.images.ImageLoader.decode(ImageLoader.kt:64)
com.vigil.shop.images.ImageLoader.load(ImageLoader.kt:41)
com.vigil.shop.catalog.ProductAdapter.onBindViewHolder(ProductAdapter.kt:58)
androidx.recyclerview.widget.RecyclerView$Adapter.bindViewHolder(RecyclerView.java:7337)
androidx.recyclerview.widget.RecyclerView$Recycler.tryBindViewHolderByDeadline(RecyclerView.java:6194)
androidx.recyclerview.widget.LinearLayoutManager.layoutChunk(LinearLayoutManager.java:1645)
androidx.recyclerview.widget.RecyclerView.onLayout(RecyclerView.java:4577)
android.view.Choreographer.doFrame(Choreographer.java:1157)";

const RECENTLY_VIEWED: &str = "\
android.database.sqlite.SQLiteConnection.nativeExecuteForCursorWindow(Native Method)
android.database.sqlite.SQLiteConnection.executeForCursorWindow(SQLiteConnection.java:1012)
android.database.sqlite.SQLiteSession.executeForCursorWindow(SQLiteSession.java:838)
android.database.sqlite.SQLiteQuery.fillWindow(SQLiteQuery.java:62)
android.database.sqlite.SQLiteCursor.getCount(SQLiteCursor.java:140)
androidx.room.util.DBUtil.query(DBUtil.kt:86)
com.vigil.shop.data.ProductDao_Impl.recentlyViewed(ProductDao_Impl.java:212)
com.vigil.shop.home.HomeViewModel.loadRecentlyViewed(HomeViewModel.kt:73)
com.vigil.shop.home.HomeActivity.onResume(HomeActivity.kt:58)
android.app.Activity.performResume(Activity.java:8735)
android.app.ActivityThread.performResumeActivity(ActivityThread.java:5089)";

const CART_LOCK: &str = "\
jdk.internal.misc.Unsafe.park(Native Method)
java.util.concurrent.locks.LockSupport.park(LockSupport.java:211)
java.util.concurrent.locks.AbstractQueuedSynchronizer.acquire(AbstractQueuedSynchronizer.java:715)
java.util.concurrent.locks.ReentrantLock.lock(ReentrantLock.java:322)
com.vigil.shop.cart.CartRepository.snapshot(CartRepository.kt:96)
com.vigil.shop.cart.CartFragment.renderTotals(CartFragment.kt:121)
com.vigil.shop.cart.CartFragment.onResume(CartFragment.kt:66)
androidx.fragment.app.Fragment.performResume(Fragment.java:3180)";

const JVM_MAIN: &str = "\
android.os.Handler.handleCallback(Handler.java:958)
android.os.Handler.dispatchMessage(Handler.java:99)
android.os.Looper.loopOnce(Looper.java:205)
android.os.Looper.loop(Looper.java:294)
android.app.ActivityThread.main(ActivityThread.java:8177)
java.lang.reflect.Method.invoke(Native Method)
com.android.internal.os.RuntimeInit$MethodAndArgsCaller.run(RuntimeInit.java:552)
com.android.internal.os.ZygoteInit.main(ZygoteInit.java:971)";

const SWIFT_BUY: &str = "\
libswiftCore.dylib  _assertionFailure(_:_:file:line:flags:) + 264
VigilShop  CartViewController.buy() + 1220 (CartViewController.swift:142)
VigilShop  @objc CartViewController.buy() + 28
UIKitCore  -[UIApplication sendAction:to:from:forEvent:] + 100
UIKitCore  -[UIControl sendAction:to:forEvent:] + 112
UIKitCore  -[UIControl _sendActionsForEvents:withEvent:] + 324
UIKitCore  -[UIButton _sendActionsForEvents:withEvent:] + 124
UIKitCore  -[UIControl touchesEnded:withEvent:] + 400
UIKitCore  -[UIWindow _sendTouchesForEvent:] + 1084
UIKitCore  -[UIWindow sendEvent:] + 3556
UIKitCore  -[UIApplication sendEvent:] + 376
CoreFoundation  __CFRunLoopDoSource0 + 172
CoreFoundation  __CFRunLoopDoSources0 + 232
CoreFoundation  __CFRunLoopRun + 840";

const IMAGE_CACHE: &str = "\
libobjc.A.dylib  objc_msgSend + 32
VigilShop  ImageCache.image(for:) + 164 (ImageCache.swift:57)
VigilShop  closure #1 in ProductCell.configure(with:) + 388 (ProductCell.swift:41)
libdispatch.dylib  _dispatch_call_block_and_release + 32
libdispatch.dylib  _dispatch_client_callout + 20
libdispatch.dylib  _dispatch_main_queue_drain + 980
libdispatch.dylib  _dispatch_main_queue_callback_4CF + 44
CoreFoundation  __CFRUNLOOP_IS_SERVICING_THE_MAIN_DISPATCH_QUEUE__ + 16
CoreFoundation  __CFRunLoopRun + 1996";

const THUMBNAIL_DECODE: &str = "\
libsystem_kernel.dylib  mach_msg2_trap + 8
ImageIO  CGImageSourceCreateThumbnailAtIndex + 560
VigilShop  ImageCache.decodeThumbnail(_:size:) + 312 (ImageCache.swift:112)
VigilShop  ProductListViewController.collectionView(_:cellForItemAt:) + 736 (ProductListViewController.swift:88)
UIKitCore  -[UICollectionView _updateVisibleCellsNow:] + 3684
UIKitCore  -[UICollectionView layoutSubviews] + 236
QuartzCore  CA::Layer::layout_if_needed(CA::Transaction*) + 504
QuartzCore  CA::Transaction::commit() + 648
CoreFoundation  __CFRunLoopDoObservers + 548
CoreFoundation  __CFRunLoopRun + 1028";

const CARD_VALIDATION: &str = "\
libsystem_kernel.dylib  semaphore_wait_trap + 8
libdispatch.dylib  _dispatch_sema4_wait + 28
libdispatch.dylib  _dispatch_semaphore_wait_slow + 132
VigilShop  PaymentService.validateCardSync(_:) + 420 (PaymentService.swift:77)
VigilShop  CheckoutViewController.placeOrderTapped(_:) + 296 (CheckoutViewController.swift:203)
UIKitCore  -[UIApplication sendAction:to:from:forEvent:] + 100
UIKitCore  -[UIControl sendAction:to:forEvent:] + 112
CoreFoundation  __CFRunLoopRun + 840";

const APPLE_MAIN: &str = "\
CoreFoundation  CFRunLoopRunSpecific + 608
GraphicsServices  GSEventRunModal + 164
UIKitCore  -[UIApplication _run] + 888
UIKitCore  UIApplicationMain + 340
VigilShop  main + 64 (AppDelegate.swift:14)
dyld  start + 2240";

/// A frame of the app's own code as release `release` has it: its code moved down a few
/// lines with each release (`Cart.kt:131)` → `Cart.kt:135)`); others' frames stay.
fn moved(frame: &str, own: bool, release: usize) -> String {
    let shifted = frame
        .strip_suffix(')')
        .and_then(|f| f.rsplit_once(':'))
        .and_then(|(head, line)| Some((head, line.parse::<usize>().ok()?)));
    match shifted {
        Some((head, line)) if own => format!("{head}:{})", line + 4 * release),
        _ => frame.to_owned(),
    }
}

/// A JVM exception as `printStackTrace` writes it.
fn jvm(error_type: &str, message: &str, frames: &str, release: usize) -> String {
    let mut out = format!("{error_type}: {message}\n");
    for frame in frames.lines().chain(JVM_MAIN.lines()) {
        let own = frame.starts_with("com.vigil.shop.");
        out.push_str(&format!("\tat {}\n", moved(frame, own, release)));
    }
    out
}

/// The main thread's stack as the Android SDK reports an ANR: one element per line.
fn main_thread(frames: &str, release: usize) -> String {
    frames
        .lines()
        .chain(JVM_MAIN.lines())
        .map(|frame| moved(frame, frame.starts_with("com.vigil.shop."), release) + "\n")
        .collect()
}

/// A small stable hash: where a symbol sits in its binary.
fn offset_of(symbol: &str) -> u64 {
    let h = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h % 0x40_0000) & !3
}

/// An Apple crash report's thread: numbered lines with binary, address, symbol, offset and
/// source. The app and the system's shared cache load at a slide that differs per launch.
fn apple(r: &mut Rng, title: &str, frames: &str, release: usize) -> String {
    let slide = r.below(0x8000) as u64 * 0x4000;
    let mut out = format!("{title}\n");
    for (i, frame) in frames.lines().chain(APPLE_MAIN.lines()).enumerate() {
        let (binary, symbol) = frame.split_once("  ").unwrap_or(("VigilShop", frame));
        let own = binary == "VigilShop";
        let base: u64 = if own { 0x1_0000_0000 } else { 0x1_a000_0000 };
        let address = base + slide + offset_of(symbol);
        let symbol = moved(symbol, own, release);
        out.push_str(&format!("{i:<4}{binary:<24}0x{address:016x} {symbol}\n"));
    }
    out
}

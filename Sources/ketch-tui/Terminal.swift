import CNCurses
import Foundation
import KetchConsole

/// The only code that talks to curses: sets the terminal up, copies grids to it (repainting only
/// rows that changed), reads keys, and puts the terminal back however the program ends.
final class Terminal {
    private(set) var size = GridSize(width: 80, height: 24)
    let options: RenderOptions
    private var previous: TextGrid?
    private var pairs = false

    /// Sets up curses. `setlocale` must come first or box drawing and non-ASCII text break.
    init(ascii: Bool, color wantColor: Bool) {
        setlocale(LC_ALL, "")
        let utf8 = String(cString: nl_langinfo(nl_item(CODESET))).uppercased().replacingOccurrences(of: "-", with: "") == "UTF8"
        Terminal.installSignalHandlers()
        initscr()
        raw()
        noecho()
        nonl()
        ketch_keypad(1)
        ketch_set_escdelay(25)
        curs_set(0)
        ketch_timeout(100)
        var color = wantColor && has_colors()
        if color {
            start_color()
            use_default_colors()
            let map: [(ConsoleColor, Int32)] = [(.red, Int32(COLOR_RED)), (.green, Int32(COLOR_GREEN)), (.yellow, Int32(COLOR_YELLOW)),
                                                (.blue, Int32(COLOR_BLUE)), (.magenta, Int32(COLOR_MAGENTA)), (.cyan, Int32(COLOR_CYAN)),
                                                (.white, Int32(COLOR_WHITE))]
            for (c, curses) in map where init_pair(Int16(c.rawValue), Int16(curses), -1) == ERR { color = false }
        }
        pairs = color
        options = RenderOptions(glyphs: utf8 && !ascii ? .unicode : .ascii, color: color)
        readSize()
    }

    func readSize() {
        size = GridSize(width: Int(ketch_cols()), height: Int(ketch_lines()))
    }

    /// After a resize the whole screen is stale.
    func invalidate() {
        previous = nil
        ketch_clear()
    }

    private func attributes(_ s: CellStyle) -> Int32 {
        var a = ketch_a_normal()
        if s.bold { a |= ketch_a_bold() }
        if s.reverse { a |= ketch_a_reverse() }
        if s.dim { a |= ketch_a_dim() }
        if pairs && s.color != .none { a |= ketch_color_pair(Int32(s.color.rawValue)) }
        return a
    }

    /// Copies `grid` to the screen; rows equal to the last painted grid are skipped. Returns
    /// how many rows were painted.
    @discardableResult
    func paint(_ grid: TextGrid) -> Int {
        var wide: [wchar_t] = []
        let painted = RowPainter.paint(grid, over: previous) { y, x, scalars, style in
            wide.removeAll(keepingCapacity: true)
            for s in scalars { wide.append(wchar_t(bitPattern: s.value)) }
            wide.withUnsafeBufferPointer { buf in
                _ = ketch_put(Int32(y), Int32(x), buf.baseAddress, Int32(buf.count), attributes(style))
            }
        }
        if painted > 0 { ketch_refresh() }
        previous = grid
        return painted
    }

    enum Input {
        case key(ConsoleKey)
        case resize
        case none
    }

    /// Waits up to the input timeout for one key.
    func read() -> Input {
        var code: Int32 = 0
        let r = ketch_get_wch(&code)
        if r == ERR { return .none }
        if r == ketch_key_code_yes() {
            switch code {
            case ketch_key_resize(): return .resize
            case Int32(KEY_UP): return .key(.up)
            case Int32(KEY_DOWN): return .key(.down)
            case Int32(KEY_LEFT): return .key(.left)
            case Int32(KEY_RIGHT): return .key(.right)
            case Int32(KEY_PPAGE): return .key(.pageUp)
            case Int32(KEY_NPAGE): return .key(.pageDown)
            case Int32(KEY_HOME): return .key(.home)
            case Int32(KEY_END): return .key(.end)
            case Int32(KEY_BTAB): return .key(.backTab)
            case Int32(KEY_ENTER): return .key(.enter)
            case Int32(KEY_BACKSPACE), Int32(KEY_DC): return .key(.backspace)
            default: return .none
            }
        }
        switch code {
        case 3: return .key(.interrupt)
        case 9: return .key(.tab)
        case 10, 13: return .key(.enter)
        case 27: return .key(.escape)
        case 8, 127: return .key(.backspace)
        case 0..<32: return .none
        default:
            guard let scalar = Unicode.Scalar(UInt32(bitPattern: code)) else { return .none }
            return .key(.character(Character(scalar)))
        }
    }

    /// Puts the terminal back; safe to call twice.
    static func restore() {
        if ketch_is_endwin() == 0 { endwin() }
    }

    /// Whatever ends the program, the terminal must not be left in raw mode with no cursor.
    private static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal(sig) { s in
                endwin()
                _exit(128 + s)
            }
        }
        for sig in [SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE, SIGTRAP] {
            signal(sig) { s in
                endwin()
                signal(s, SIG_DFL)
                raise(s)
            }
        }
    }
}

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 600
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <ncursesw/curses.h>
#include <wchar.h>

/// Attribute and global accessors: macros and mutable globals do not import into Swift 6.
static inline int ketch_a_bold(void) { return A_BOLD; }
static inline int ketch_a_reverse(void) { return A_REVERSE; }
static inline int ketch_a_dim(void) { return A_DIM; }
static inline int ketch_a_underline(void) { return A_UNDERLINE; }
static inline int ketch_a_normal(void) { return A_NORMAL; }
static inline int ketch_color_pair(int n) { return COLOR_PAIR(n); }
static inline WINDOW *ketch_stdscr(void) { return stdscr; }
static inline int ketch_lines(void) { return LINES; }
static inline int ketch_cols(void) { return COLS; }
static inline int ketch_key_resize(void) { return KEY_RESIZE; }
static inline int ketch_key_f(int n) { return KEY_F(n); }
static inline void ketch_set_escdelay(int ms) { set_escdelay(ms); }

/// Painting and input for ketch-tui: one call per styled run, wide characters throughout.
static inline int ketch_put(int y, int x, const wchar_t *s, int n, int attr) {
    wattrset(stdscr, attr);
    return mvwaddnwstr(stdscr, y, x, s, n);
}
/// Returns OK for a character, KEY_CODE_YES for a function key, ERR on timeout.
static inline int ketch_get_wch(int *out) {
    wint_t c = 0;
    int r = wget_wch(stdscr, &c);
    *out = (int)c;
    return r;
}
static inline int ketch_key_code_yes(void) { return KEY_CODE_YES; }
static inline void ketch_keypad(int on) { keypad(stdscr, on ? TRUE : FALSE); }
static inline void ketch_timeout(int ms) { wtimeout(stdscr, ms); }
static inline int ketch_refresh(void) { return wrefresh(stdscr); }
static inline int ketch_clear(void) { return wclear(stdscr); }
static inline int ketch_is_endwin(void) { return isendwin(); }

# rtai_optional.m4 - the one pattern for an optional dependency.
#
# RTAI_OPTIONAL(NAME, PKG-MODULE, HEADER, LIBRARY, FUNCTION, WHAT)
#
#   NAME        the variable prefix and the --with-NAME option, e.g. rdkafka
#   PKG-MODULE  the pkg-config module, or empty when the library has none
#   HEADER      a header that must compile, e.g. librdkafka/rdkafka.h
#   LIBRARY     the library for the link test without pkg-config, e.g. rdkafka
#   FUNCTION    a function that must link
#   WHAT        what is built with it, for the messages: "rtai-kafka"
#
# --with-NAME=check (the default) builds WHAT when the library is found and
# otherwise skips it with a message; --with-NAME=yes makes a missing library
# an error; --with-NAME=no skips WHAT. Defines HAVE_NAME (config.h and an
# automake conditional) and substitutes NAME_CFLAGS and NAME_LIBS. The
# summary at the end of configure lists what was built and what was not.
AC_DEFUN([RTAI_OPTIONAL], [
  AC_ARG_WITH([$1],
    [AS_HELP_STRING([--with-$1], [build $6 (default: when the library is found)])],
    [], [with_$1=check])
  rtai_have_$1=no
  AS_IF([test "x$with_$1" != xno], [
    rtai_save_CPPFLAGS=$CPPFLAGS
    rtai_save_LIBS=$LIBS
    m4_ifval([$2], [
      PKG_CHECK_MODULES(m4_toupper([$1]), [$2], [rtai_pc_$1=yes], [rtai_pc_$1=no])
    ], [rtai_pc_$1=no])
    AS_IF([test "x$rtai_pc_$1" = xno], [
      m4_toupper([$1])_CFLAGS=
      m4_toupper([$1])_LIBS=-l$4
    ])
    CPPFLAGS="$CPPFLAGS $m4_toupper([$1])_CFLAGS"
    LIBS="$m4_toupper([$1])_LIBS $LIBS"
    AC_CHECK_HEADER([$3], [
      AC_MSG_CHECKING([for $5 in $m4_toupper([$1])_LIBS])
      AC_LINK_IFELSE([AC_LANG_CALL([], [$5])],
        [rtai_have_$1=yes], [rtai_have_$1=no])
      AC_MSG_RESULT([$rtai_have_$1])
    ])
    CPPFLAGS=$rtai_save_CPPFLAGS
    LIBS=$rtai_save_LIBS
  ])
  AS_IF([test "x$rtai_have_$1" = xyes], [
    AC_DEFINE(m4_toupper([HAVE_$1]), [1], [Define to 1 to build $6.])
    rtai_built="$rtai_built
    $6"
  ], [
    m4_toupper([$1])_CFLAGS=
    m4_toupper([$1])_LIBS=
    AS_IF([test "x$with_$1" = xyes],
      [AC_MSG_ERROR([--with-$1: $3 or lib$4 not found; install it (scripts/check does) to build $6])])
    AS_IF([test "x$with_$1" = xno],
      [rtai_skipped="$rtai_skipped
    $6 (--without-$1)"],
      [rtai_skipped="$rtai_skipped
    $6 (no $3 / lib$4: scripts/check installs it)"])
  ])
  AC_SUBST(m4_toupper([$1])_CFLAGS)
  AC_SUBST(m4_toupper([$1])_LIBS)
  AM_CONDITIONAL(m4_toupper([HAVE_$1]), [test "x$rtai_have_$1" = xyes])
])

# RTAI_OPTIONAL_SUMMARY prints what RTAI_OPTIONAL built and skipped.
AC_DEFUN([RTAI_OPTIONAL_SUMMARY], [
  AS_IF([test -n "$rtai_built"], [AC_MSG_NOTICE([built with optional libraries:$rtai_built])])
  AS_IF([test -n "$rtai_skipped"], [AC_MSG_WARN([skipped, its library was missing:$rtai_skipped])])
])

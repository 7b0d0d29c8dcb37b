"""jupyter_kernel_test conformance suite for the netssm Go kernel.

Run by kernel/zmq's TestJupyterKernelTest (go test), which installs the
kernelspec into a temp prefix and sets JUPYTER_PATH; by hand:

    netssm kernelspec install -prefix /tmp/p
    JUPYTER_PATH=/tmp/p/share/jupyter /usr/bin/python3 -m unittest -v test_netssm_kernel
"""

import os
import unittest

import jupyter_kernel_test


class NetssmKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = os.environ.get("NETSSM_KERNEL_NAME", "netssm")
    language_name = "go"
    file_extension = ".go"

    code_hello_world = 'import "fmt"\nfmt.Println("hello, world")'

    code_stderr = 'import (\n\t"fmt"\n\t"os"\n)\nfmt.Fprintln(os.Stderr, "to stderr")'

    # Completion of package members, of a cell's own identifiers and of
    # keywords; matches are compared as sets.
    completion_samples = [
        {"text": "strings.ToUpp", "matches": {"ToUpper", "ToUpperSpecial"}},
        {"text": 'import "strings"\nstrings.TrimSp', "matches": {"TrimSpace"}},
        {"text": "fmt.Sprintl", "matches": {"Sprintln"}},
    ]

    complete_code_samples = [
        "x := 1",
        'import "fmt"\nfmt.Println(1)',
        "func f() int {\n\treturn 1\n}",
        "",
    ]
    incomplete_code_samples = [
        "func f() int {",
        "x := []int{1,\n2,",
        "if true {\n\tfmt.Println(1)",
        "s := `raw\nstring",
    ]
    invalid_code_samples = [
        "x := )",
        "func f() }",
        "var := 3",
    ]

    code_page_something = ""  # Go has no pager payload

    code_generate_error = 'panic("boom")'

    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": '"a" + "b"', "result": "ab"},
        {"code": "x := 3\nx * x", "result": "9"},
        {
            "code": 'import "github.com/netssm/netssm/stdlib/display"\ndisplay.HTML("<b>bold</b>")',
            "mime": "text/html",
            "result": "<b>bold</b>",
        },
    ]

    # matches one (and only one distinct) code of code_execute_result
    code_history_pattern = "6\\*7"
    supported_history_operations = ("tail", "range", "search")

    code_display_data = [
        {
            "code": 'import "github.com/netssm/netssm/stdlib/display"\ndisplay.Display(display.HTML("<i>hi</i>"))',
            "mime": "text/html",
        },
        {
            "code": 'import "github.com/netssm/netssm/stdlib/display"\ndisplay.Display(display.Markdown("# Title"))',
            "mime": "text/markdown",
        },
    ]

    code_inspect_sample = "strings.ToUpper"

    code_clear_output = 'import "github.com/netssm/netssm/stdlib/display"\ndisplay.Clear(false)'


if __name__ == "__main__":
    unittest.main()

#!/bin/sh
echo "crasher: about to crash"
kill -SEGV $$

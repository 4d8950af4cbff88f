#!/bin/sh
cat /app/lib/liba.txt /app/lib/libb.txt

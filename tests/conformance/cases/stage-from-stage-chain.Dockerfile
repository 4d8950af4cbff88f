# A stage FROM another stage that is itself FROM a third.
FROM stagecache/busybox:latest AS grand
RUN echo stage-from-stage-chain-grand-1 > /g
FROM grand AS parent
RUN echo stage-from-stage-chain-parent-1 > /p
FROM parent AS child
RUN echo stage-from-stage-chain-child-1 > /c

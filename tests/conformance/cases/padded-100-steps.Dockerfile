# A generated stage with 110 steps (WORKDIR, a RUN every 10th step, and ENV lines that make
# no step): the step number is padded to three digits, [big   2/111] .. [big 111/111].
# Mostly WORKDIR because a RUN starts a container and this case must stay fast on a cold cache.
FROM stagecache/busybox:latest AS big
WORKDIR /padded-100-steps/d001
WORKDIR /padded-100-steps/d002
WORKDIR /padded-100-steps/d003
WORKDIR /padded-100-steps/d004
WORKDIR /padded-100-steps/d005
WORKDIR /padded-100-steps/d006
WORKDIR /padded-100-steps/d007
WORKDIR /padded-100-steps/d008
WORKDIR /padded-100-steps/d009
RUN echo padded-100-steps-big-10 > f10
WORKDIR /padded-100-steps/d011
WORKDIR /padded-100-steps/d012
WORKDIR /padded-100-steps/d013
WORKDIR /padded-100-steps/d014
WORKDIR /padded-100-steps/d015
WORKDIR /padded-100-steps/d016
WORKDIR /padded-100-steps/d017
WORKDIR /padded-100-steps/d018
WORKDIR /padded-100-steps/d019
RUN echo padded-100-steps-big-20 > f20
WORKDIR /padded-100-steps/d021
WORKDIR /padded-100-steps/d022
WORKDIR /padded-100-steps/d023
WORKDIR /padded-100-steps/d024
WORKDIR /padded-100-steps/d025
ENV PADDED_100_STEP_25=25
WORKDIR /padded-100-steps/d026
WORKDIR /padded-100-steps/d027
WORKDIR /padded-100-steps/d028
WORKDIR /padded-100-steps/d029
RUN echo padded-100-steps-big-30 > f30
WORKDIR /padded-100-steps/d031
WORKDIR /padded-100-steps/d032
WORKDIR /padded-100-steps/d033
WORKDIR /padded-100-steps/d034
WORKDIR /padded-100-steps/d035
WORKDIR /padded-100-steps/d036
WORKDIR /padded-100-steps/d037
WORKDIR /padded-100-steps/d038
WORKDIR /padded-100-steps/d039
RUN echo padded-100-steps-big-40 > f40
WORKDIR /padded-100-steps/d041
WORKDIR /padded-100-steps/d042
WORKDIR /padded-100-steps/d043
WORKDIR /padded-100-steps/d044
WORKDIR /padded-100-steps/d045
WORKDIR /padded-100-steps/d046
WORKDIR /padded-100-steps/d047
WORKDIR /padded-100-steps/d048
WORKDIR /padded-100-steps/d049
RUN echo padded-100-steps-big-50 > f50
ENV PADDED_100_STEP_50=50
WORKDIR /padded-100-steps/d051
WORKDIR /padded-100-steps/d052
WORKDIR /padded-100-steps/d053
WORKDIR /padded-100-steps/d054
WORKDIR /padded-100-steps/d055
WORKDIR /padded-100-steps/d056
WORKDIR /padded-100-steps/d057
WORKDIR /padded-100-steps/d058
WORKDIR /padded-100-steps/d059
RUN echo padded-100-steps-big-60 > f60
WORKDIR /padded-100-steps/d061
WORKDIR /padded-100-steps/d062
WORKDIR /padded-100-steps/d063
WORKDIR /padded-100-steps/d064
WORKDIR /padded-100-steps/d065
WORKDIR /padded-100-steps/d066
WORKDIR /padded-100-steps/d067
WORKDIR /padded-100-steps/d068
WORKDIR /padded-100-steps/d069
RUN echo padded-100-steps-big-70 > f70
WORKDIR /padded-100-steps/d071
WORKDIR /padded-100-steps/d072
WORKDIR /padded-100-steps/d073
WORKDIR /padded-100-steps/d074
WORKDIR /padded-100-steps/d075
ENV PADDED_100_STEP_75=75
WORKDIR /padded-100-steps/d076
WORKDIR /padded-100-steps/d077
WORKDIR /padded-100-steps/d078
WORKDIR /padded-100-steps/d079
RUN echo padded-100-steps-big-80 > f80
WORKDIR /padded-100-steps/d081
WORKDIR /padded-100-steps/d082
WORKDIR /padded-100-steps/d083
WORKDIR /padded-100-steps/d084
WORKDIR /padded-100-steps/d085
WORKDIR /padded-100-steps/d086
WORKDIR /padded-100-steps/d087
WORKDIR /padded-100-steps/d088
WORKDIR /padded-100-steps/d089
RUN echo padded-100-steps-big-90 > f90
WORKDIR /padded-100-steps/d091
WORKDIR /padded-100-steps/d092
WORKDIR /padded-100-steps/d093
WORKDIR /padded-100-steps/d094
WORKDIR /padded-100-steps/d095
WORKDIR /padded-100-steps/d096
WORKDIR /padded-100-steps/d097
WORKDIR /padded-100-steps/d098
WORKDIR /padded-100-steps/d099
RUN echo padded-100-steps-big-100 > f100
ENV PADDED_100_STEP_100=100
WORKDIR /padded-100-steps/d101
WORKDIR /padded-100-steps/d102
WORKDIR /padded-100-steps/d103
WORKDIR /padded-100-steps/d104
WORKDIR /padded-100-steps/d105
WORKDIR /padded-100-steps/d106
WORKDIR /padded-100-steps/d107
WORKDIR /padded-100-steps/d108
WORKDIR /padded-100-steps/d109
RUN echo padded-100-steps-big-110 > f110

FROM stagecache/busybox:latest AS final
COPY --from=big /padded-100-steps/d109 /padded-100-steps-final
RUN echo padded-100-steps-final-1 > /final1
